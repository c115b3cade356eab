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

  it("meters our microphone and everyone heard, and says what the sound cards and repairs cost", async () => {
    fakeBackend({});
    render(<Lesson view={lessonView()} onLeft={() => {}} />);
    const mine = screen.getByRole("meter", { name: "Your microphone's level" });
    expect(mine.getAttribute("aria-valuenow")).toBe("0");
    // (Until the screen listens, an event is missed: send it until it is seen.)
    await vi.waitFor(async () => {
      await emit("lesson-levels", { send: 0.5, peers: [{ peer: "p-omar", level: 0.1 }] });
      expect(mine.getAttribute("aria-valuenow")).toBe("0.5");
    });
    const theirs = screen.getByRole("meter", { name: /Level of what you hear from/ });
    expect(theirs.getAttribute("aria-valuenow")).toBe("0.1");
    // -20 dB on a 60 dB scale: two thirds full.
    expect((theirs.firstChild as HTMLElement).style.width).toBe("66.7%");
    await emit("lesson-stats", {
      peers: [{ peer: "p-omar", one_way_ms: 31.2, devices_ms: 14.6, rtt_ms: 2, path: "direct", jitter_ms: 1, buffer_ms: 5, loss_pct: 0, concealed_pct: 0.4, level: 0.1 }],
      send_level: 0.5,
    });
    expect((await screen.findByTestId("conn-p-omar")).textContent).toContain(
      "one-way 31 ms (sound cards 15 ms) · buffer 5 ms · repaired 0.4 %",
    );
    // Once the shared clock is known, how well (the metronome's beats agree to about that).
    expect(screen.getByTestId("conn-p-omar").textContent).not.toContain("clock");
    await emit("lesson-stats", {
      peers: [{ peer: "p-omar", one_way_ms: 31.2, rtt_ms: 2, path: "direct", jitter_ms: 1, buffer_ms: 5, loss_pct: 0, level: 0.1, clock_offset_ms: 0.2, clock_uncertainty_ms: 0.34 }],
      send_level: 0.5,
    });
    await vi.waitFor(() => expect(screen.getByTestId("conn-p-omar").textContent).toContain("clock ±0.3 ms"));
  });

  it("opens the mixer, and tells a student whose mic the teacher took", async () => {
    fakeBackend({});
    const student = lessonView({ host: false });
    student.you = { ...student.you, role: "student", mic: false };
    render(<Lesson view={student} onLeft={() => {}} />);
    expect(screen.getByTestId("mic-taken").textContent).toContain("muted your microphone for everyone");
    expect(screen.queryByTestId("strip-p-omar")).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Mixer" }));
    expect(screen.getByTestId("strip-p-omar")).toBeTruthy();
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

  it("says when the relay is reached over TLS, and shows a student the teacher's page", async () => {
    fakeBackend({ teacher_page: () => ({ name: "김선생", instruments: ["violin"], bio: "", time_zone: null, photo: null }) });
    render(<Lesson view={lessonView({ host: false, teacher: "0123456789abcdef0123456789abcdef" })} onLeft={() => {}} />);
    await vi.waitFor(async () => {
      await emit("lesson-stats", {
        peers: [{ peer: "p-omar", one_way_ms: 60, rtt_ms: 90, path: "relayed", relay_over: "tls", jitter_ms: 1, buffer_ms: 10, loss_pct: 0, level: 0.2 }],
        send_level: 0.1,
      });
      expect(screen.getByTestId("relay-mark").textContent).toBe(" · TURN (TLS)");
    });
    expect(screen.getByTestId("relay-mark").title).toContain("over TLS");
    expect((await screen.findByTestId("teacher-card")).textContent).toContain("violin");
  });
});
