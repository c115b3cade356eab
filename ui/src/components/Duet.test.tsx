import { render, screen, fireEvent } from "@testing-library/react";
import { Duet } from "./Duet";
import { failing, fakeBackend, lessonView } from "../test/ipc";

const status = {
  partner: "p-omar",
  follow_metronome: false,
  they_hear_after_ms: 98.4,
  we_hear_after_ms: 101.9,
  shift_ms: 98.4,
  live_delay_ms: 200.3,
  live: false,
  replaying: false,
};

describe("leader–follower", () => {
  it("leads the student, shows how late each hears the other, and replays the duet aligned", async () => {
    const backend = fakeBackend({ duet: () => status });
    render(<Duet view={lessonView()} />);
    fireEvent.click(screen.getByRole("checkbox"));
    const delays = await screen.findByTestId("duet-delays");
    expect(backend.called("set_leader_follower")).toEqual([{ on: true }]);
    expect(delays.textContent).toContain("Omar follows you");
    expect(delays.textContent).toContain("hears you 98 ms");
    expect(delays.textContent).toContain("you hear them 102 ms");
    expect(delays.textContent).toContain("shifted back 98 ms");
    fireEvent.click(screen.getByRole("button", { name: "Replay the last 10 s, aligned" }));
    await vi.waitFor(() => expect(backend.called("replay_duet")).toEqual([{ seconds: 10 }]));
    fireEvent.click(screen.getByRole("checkbox", { name: /Hear yourself delayed/ }));
    await vi.waitFor(() => expect(backend.called("set_duet_live")).toEqual([{ on: true }]));
  });

  it("says when the student has not measured the delay yet", async () => {
    fakeBackend({
      duet: () => ({ ...status, they_hear_after_ms: null, shift_ms: null }),
      replay_duet: failing({ code: "not_measured", message: "the follower has not said yet" }),
    });
    render(<Duet view={lessonView()} />);
    fireEvent.click(screen.getByRole("checkbox"));
    expect((await screen.findByTestId("duet-delays")).textContent).toContain("hears you …");
    fireEvent.click(screen.getByRole("button", { name: "Replay the last 10 s, aligned" }));
    expect(await screen.findByText(/has not measured how late it hears you/)).toBeTruthy();
  });

  it("with nobody to follow, says so and stays off", async () => {
    fakeBackend({ set_leader_follower: failing({ code: "no_follower", message: "no student" }) });
    render(<Duet view={lessonView()} />);
    fireEvent.click(screen.getByRole("checkbox"));
    expect(await screen.findByText("No student is here to play along.")).toBeTruthy();
    expect((screen.getByRole("checkbox") as HTMLInputElement).checked).toBe(false);
  });
});
