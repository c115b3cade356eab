import { render, screen, fireEvent } from "@testing-library/react";
import { SettingsScreen } from "./Settings";
import { fakeBackend, settings } from "../test/ipc";

describe("the settings", () => {
  it("keep JACK as the sound system when chosen", async () => {
    const backend = fakeBackend({ save_settings: (a) => a.settings });
    const saved = vi.fn();
    render(<SettingsScreen settings={settings} onSaved={saved} />);
    const system = screen.getByRole("combobox", { name: /sound system/i });
    expect((system as HTMLSelectElement).value).toBe("auto");
    fireEvent.change(system, { target: { value: "jack" } });
    fireEvent.click(screen.getByRole("button", { name: /save/i }));
    await vi.waitFor(() => expect(saved).toHaveBeenCalled());
    const sent = backend.called("save_settings")[0]?.settings as { audio_system: string };
    expect(sent.audio_system).toBe("jack");
    expect(saved.mock.calls[0]?.[0].audio_system).toBe("jack");
  });

  it("keep the teacher's page: instruments, a biography, and no photo once removed", async () => {
    const backend = fakeBackend({ save_settings: (a) => a.settings });
    const saved = vi.fn();
    const withPhoto = { ...settings, profile: { instruments: [], bio: "", photo: "data:image/jpeg;base64,/9j/" } };
    render(<SettingsScreen settings={withPhoto} onSaved={saved} />);
    fireEvent.change(screen.getByLabelText("Instruments"), { target: { value: "violin, viola" } });
    fireEvent.blur(screen.getByLabelText("Instruments"));
    fireEvent.change(screen.getByLabelText("About you"), { target: { value: "Bowing and intonation." } });
    fireEvent.click(screen.getByRole("button", { name: "Remove the photo" }));
    fireEvent.click(screen.getByRole("button", { name: /save/i }));
    await vi.waitFor(() => expect(saved).toHaveBeenCalled());
    const sent = backend.called("save_settings")[0]?.settings as { profile: unknown };
    expect(sent.profile).toEqual({ instruments: ["violin", "viola"], bio: "Bowing and intonation.", photo: null });
  });
});
