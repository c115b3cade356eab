import { render, screen, fireEvent, within } from "@testing-library/react";
import { Mixer, panLabel } from "./Mixer";
import { fakeBackend, lessonView } from "../test/ipc";

describe("the mixer", () => {
  it("sets one participant's volume, pan and mute for us alone, from what is set", async () => {
    const backend = fakeBackend({});
    const view = lessonView({
      host: false,
      mix: [{ peer: "p-omar", fader: { volume: 0.5, pan: 0, muted: false } }],
    });
    render(
      <Mixer
        view={view}
        levels={{ "p-omar": 0.1 }}
        stats={{ "p-omar": { peer: "p-omar", one_way_ms: 31.2, heard_after_ms: 42.6 } as never }}
      />,
    );
    const strip = screen.getByTestId("strip-p-omar");
    // The delay to them, measured where it is; their level.
    expect(strip.textContent).toContain("43 ms");
    expect(within(strip).getByRole("meter").getAttribute("aria-valuenow")).toBe("0.1");
    expect(strip.textContent).toContain("50 %");
    fireEvent.change(within(strip).getByRole("slider", { name: /Pan/ }), { target: { value: "-40" } });
    fireEvent.click(within(strip).getByRole("button", { name: "Mute for me" }));
    await vi.waitFor(() => expect(backend.called("set_fader").length).toBe(2));
    // Each change keeps what was set before it, even before the view confirms it.
    expect(backend.called("set_fader")).toEqual([
      { peerId: "p-omar", fader: { volume: 0.5, pan: -0.4, muted: false } },
      { peerId: "p-omar", fader: { volume: 0.5, pan: -0.4, muted: true } },
    ]);
    expect(strip.textContent).toContain("L 40");
    // A student's mixer has no way to mute someone for everyone.
    expect(within(strip).queryByRole("button", { name: "Mute for everyone" })).toBeNull();
  });

  it("lets the host take someone's microphone for everyone, and give it back", async () => {
    const backend = fakeBackend({});
    const view = lessonView({ host: true });
    view.others[0]!.mic = true;
    const { rerender } = render(<Mixer view={view} levels={{}} stats={{}} />);
    const strip = screen.getByTestId("strip-p-omar");
    expect(strip.textContent).toContain("—");
    // An estimate until measured.
    rerender(<Mixer view={view} levels={{}} stats={{ "p-omar": { peer: "p-omar", one_way_ms: 30.4 } as never }} />);
    expect(strip.textContent).toContain("≈30 ms");
    fireEvent.click(within(strip).getByRole("button", { name: "Mute for everyone" }));
    await vi.waitFor(() => expect(backend.called("set_mic")).toEqual([{ peerId: "p-omar", allowed: false }]));
    const muted = lessonView({ host: true });
    muted.others[0]!.mic = false;
    rerender(<Mixer view={muted} levels={{}} stats={{}} />);
    fireEvent.click(within(strip).getByRole("button", { name: "Give the mic back" }));
    await vi.waitFor(() => expect(backend.called("set_mic").at(-1)).toEqual({ peerId: "p-omar", allowed: true }));
  });

  it("says a refused setting", async () => {
    fakeBackend({
      set_fader: () => {
        throw { code: "invalid_input", message: "", problem: { key: "range", what: "volume", min: 0, max: 2 } };
      },
    });
    render(<Mixer view={lessonView()} levels={{}} stats={{}} />);
    fireEvent.change(screen.getByRole("slider", { name: /Volume/ }), { target: { value: "150" } });
    expect((await screen.findByRole("alert")).textContent).toContain("volume");
  });

  it("names the pan's side", () => {
    expect(panLabel(0, "L", "R")).toBe("C");
    expect(panLabel(-0.4, "L", "R")).toBe("L 40");
    expect(panLabel(1, "L", "R")).toBe("R 100");
  });
});
