import { fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Metronome, beatAt } from "./Metronome";
import { failing, fakeBackend, lessonView } from "../test/ipc";

describe("the metronome", () => {
  it("lets the host start it with a tempo, a meter and a count-in, and stop it", async () => {
    const backend = fakeBackend({});
    const { rerender } = render(<Metronome view={lessonView()} />);
    const tempo = screen.getByRole("spinbutton");
    await userEvent.clear(tempo);
    await userEvent.type(tempo, "96");
    await userEvent.selectOptions(screen.getByLabelText("Beats"), "3");
    await userEvent.click(screen.getByRole("button", { name: "Start" }));
    expect(backend.called("set_metronome")).toEqual([{ metronome: { bpm: 96, beats: 3, count_in_bars: 1 } }]);
    rerender(<Metronome view={lessonView({ metronome: { bpm: 96, beats: 3, count_in_bars: 1 } })} />);
    expect(screen.getByText("♩ = 96 · 3")).toBeTruthy();
    await userEvent.click(screen.getByRole("button", { name: "Stop" }));
    expect(backend.called("set_metronome").at(-1)).toEqual({ metronome: null });
  });

  it("refuses a tempo out of range before asking, and shows the backend's refusal", async () => {
    const backend = fakeBackend({ set_metronome: failing({ code: "not_host", message: "only the host" }) });
    render(<Metronome view={lessonView()} />);
    const tempo = screen.getByRole("spinbutton");
    await userEvent.clear(tempo);
    await userEvent.type(tempo, "500");
    expect((screen.getByRole("button", { name: "Start" }) as HTMLButtonElement).disabled).toBe(true);
    await userEvent.clear(tempo);
    await userEvent.type(tempo, "60");
    await userEvent.click(screen.getByRole("button", { name: "Start" }));
    expect(backend.called("set_metronome")).toHaveLength(1);
    expect(await screen.findByText("Only the teacher can do this.")).toBeTruthy();
  });

  it("shows a student the beat and their own volume, without the host's controls", async () => {
    const backend = fakeBackend({
      metronome_beat: () => ({ beat: 2, beats: 4, count_in: false, count_in_left: 0, ms_into_beat: 10, beat_ms: 500 }),
    });
    render(<Metronome view={lessonView({ host: false, metronome: { bpm: 120, beats: 4, count_in_bars: 1 } })} />);
    expect(screen.queryByRole("button", { name: "Start" })).toBeNull();
    const lit = await screen.findByText("3", { selector: ".beat.on" });
    expect(lit.getAttribute("aria-current")).toBe("true");
    const volume = screen.getByRole("slider", { name: "Metronome volume (yours only)" });
    fireEvent.change(volume, { target: { value: "25" } });
    await vi.waitFor(() => expect(backend.called("set_metronome_volume")).toEqual([{ volume: 0.25 }]));
  });

  it("moves the beat on from the last answer, and ends the count-in on time", () => {
    const b = { beat: 2, beats: 4, count_in: true, count_in_left: 0, ms_into_beat: 100, beat_ms: 500 };
    expect(beatAt(b, 1000, 1000)).toEqual({ beat: 2, countIn: true });
    // 450 ms later: the next beat, the last of the count-in.
    expect(beatAt(b, 1000, 1450)).toEqual({ beat: 3, countIn: true });
    // A beat later: the first of the playing.
    expect(beatAt(b, 1000, 1950)).toEqual({ beat: 0, countIn: false });
  });
});
