import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { emit } from "@tauri-apps/api/event";
import { Lesson } from "./Lesson";
import { fakeBackend, lessonView } from "../test/ipc";

describe("the lesson screen", () => {
  it("shows the measured connection, and a dropped participant as reconnecting", async () => {
    fakeBackend({});
    const { rerender } = render(<Lesson view={lessonView()} onLeft={() => {}} />);
    await emit("lesson-stats", {
      peers: [{ peer: "p-omar", one_way_ms: 18.4, rtt_ms: 37, path: "direct", jitter_ms: 1, buffer_ms: 10, loss_pct: 0, level: 0.2 }],
      send_level: 0.1,
    });
    expect((await screen.findByTestId("conn-p-omar")).textContent).toContain("one-way 18 ms · buffer 10 ms");
    const lost = lessonView();
    lost.others[0]!.connected = false;
    rerender(<Lesson view={lost} onLeft={() => {}} />);
    expect(screen.getByText("Connection lost — reconnecting…")).toBeTruthy();
    expect(screen.queryByTestId("conn-p-omar")).toBeNull();
  });

  it("lets the host admit or deny who is waiting, and end the lesson", async () => {
    const ipc = fakeBackend({});
    const left = vi.fn();
    vi.spyOn(window, "confirm").mockReturnValue(true);
    const view = lessonView({
      waiting: [
        { peer: "p-sara", name: "Sara", observer: false, at_ms: 0 },
        { peer: "p-x", name: "Mallory", observer: true, at_ms: 0 },
      ],
    });
    render(<Lesson view={view} onLeft={left} />);
    const user = userEvent.setup();
    const waiting = screen.getByRole("region", { name: "Waiting to join" });
    await user.click(within(screen.getByText("Sara").closest("li")!).getByRole("button", { name: "Admit" }));
    await user.click(within(screen.getByText(/Mallory/).closest("li")!).getByRole("button", { name: "Deny" }));
    expect(within(waiting).getByText("(observer)")).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "End lesson" }));
    expect(ipc.called("admit")).toEqual([{ peerId: "p-sara" }]);
    expect(ipc.called("deny")).toEqual([{ peerId: "p-x" }]);
    expect(ipc.called("leave_lesson")).toEqual([{ end: true }]);
    expect(left).toHaveBeenCalledWith(true);
  });

  it("gives a student no host controls", () => {
    fakeBackend({});
    render(<Lesson view={lessonView({ host: false })} onLeft={() => {}} />);
    expect(screen.queryByTestId("invite-code")).toBeNull();
    expect(screen.queryByRole("button", { name: "End lesson" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Remove" })).toBeNull();
    expect(screen.getByRole("button", { name: "Leave" })).toBeTruthy();
  });
});
