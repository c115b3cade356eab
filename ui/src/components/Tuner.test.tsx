import { render, screen, fireEvent } from "@testing-library/react";
import { Tuner, smooth } from "./Tuner";
import { fakeBackend, lessonView } from "../test/ipc";

describe("the tuner", () => {
  it("shows our own note and each participant's, in cents, against the reference A", async () => {
    const backend = fakeBackend({
      tuner: (a) =>
        a.referenceHz === 415
          ? [{ peer: "p-omar", note: "A", octave: 4, cents: -2.4, hz: 414.4 }]
          : [
              { peer: "", note: "G", octave: 3, cents: 3.2, hz: 196.4 },
              { peer: "p-omar", note: "A♭", octave: 4, cents: -1.3, hz: 415 },
            ],
    });
    render(<Tuner view={lessonView()} />);
    const mine = await screen.findByTestId("pitch-you");
    await vi.waitFor(() => expect(mine.textContent).toContain("G3+3¢"));
    expect(screen.getByTestId("pitch-p-omar").textContent).toContain("A♭4−1¢");
    // Baroque pitch: asked again against 415 Hz; we play nothing now.
    fireEvent.change(screen.getByRole("spinbutton"), { target: { value: "415" } });
    await vi.waitFor(() => expect(screen.getByTestId("pitch-p-omar").textContent).toContain("A4−2¢"));
    expect(screen.getByTestId("pitch-you").textContent).toContain("no note");
    expect(backend.called("tuner").some((c) => c.referenceHz === 415)).toBe(true);
  });

  it("shows the median of the last readings, so that one glitch does not move it", () => {
    const r = (cents: number) => [{ peer: "p-omar", note: "G", octave: 3, cents, hz: 196 * 2 ** (cents / 1200) }];
    expect(smooth([r(-9), r(-9), r(-1), r(-9), r(-9)], "p-omar")?.cents).toBe(-9);
    expect(smooth([r(-9), r(-9), []], "p-omar")).toBeUndefined();
  });

  it("does not ask with a reference A out of range", async () => {
    const backend = fakeBackend({ tuner: () => [] });
    render(<Tuner view={lessonView()} />);
    await vi.waitFor(() => expect(backend.called("tuner").length).toBeGreaterThan(0));
    fireEvent.change(screen.getByRole("spinbutton"), { target: { value: "500" } });
    const before = backend.called("tuner").length;
    await new Promise((r) => setTimeout(r, 250));
    expect(backend.called("tuner").length).toBe(before);
    expect(screen.getByRole("spinbutton").getAttribute("aria-invalid")).toBe("true");
  });
});
