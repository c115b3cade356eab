import { render, screen, fireEvent } from "@testing-library/react";
import { Recording } from "./Recording";
import { failing, fakeBackend, lessonView } from "../test/ipc";

describe("recording", () => {
  it("shows everyone who records the lesson", () => {
    fakeBackend({});
    const view = lessonView();
    render(<Recording view={{ ...view, others: view.others.map((o) => ({ ...o, recording: true })) }} />);
    expect(screen.getByTestId("recorded-by").textContent).toContain("Being recorded by Omar");
  });

  it("records, says where, and says where it was saved once stopped", async () => {
    const dir = "/data/recordings/lesson-1-1700000000";
    const backend = fakeBackend({ set_recording: ({ on }) => (on ? dir : dir) });
    const { rerender } = render(<Recording view={lessonView()} />);
    expect(screen.queryByTestId("recorded-by")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "● Record" }));
    await vi.waitFor(() => expect(backend.called("set_recording")).toEqual([{ on: true }]));
    // The view follows from the session.
    rerender(<Recording view={lessonView({ recording: dir })} />);
    expect(screen.getByTestId("recorded-by").textContent).toContain("Being recorded by You");
    expect(screen.getByText(`Recording into ${dir}`)).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "■ Stop recording" }));
    rerender(<Recording view={lessonView()} />);
    expect((await screen.findByTestId("recording-saved")).textContent).toContain(dir);
  });

  it("marks the moment, and counts the marks made", async () => {
    const backend = fakeBackend({ add_mark: () => null });
    const { rerender } = render(<Recording view={lessonView()} />);
    expect(screen.queryByTestId("marks-made")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "★ Mark" }));
    await vi.waitFor(() => expect(backend.called("add_mark")).toEqual([{ text: "" }]));
    rerender(<Recording view={lessonView({ marks: 1 })} />);
    expect(screen.getByTestId("marks-made").textContent).toBe("Marks: 1");
  });

  it("says a full disk in words", async () => {
    fakeBackend({ set_recording: failing({ code: "disk_full", message: "the disk is full" }) });
    render(<Recording view={lessonView()} />);
    fireEvent.click(screen.getByRole("button", { name: "● Record" }));
    expect(await screen.findByText(/The disk is full: the recording stopped/)).toBeTruthy();
  });
});
