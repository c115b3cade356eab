import { render, screen, fireEvent } from "@testing-library/react";
import { Replay } from "./Replay";
import { failing, fakeBackend } from "../test/ipc";

describe("instant replay", () => {
  it("plays a participant's last 10 s again, then offers to stop it while it plays", async () => {
    const backend = fakeBackend({ replay: () => 10 });
    render(<Replay peer="p-omar" name="Omar" />);
    fireEvent.click(screen.getByRole("button", { name: "Play the last 10 s of Omar again" }));
    await vi.waitFor(() => expect(backend.called("replay")).toEqual([{ peer: "p-omar", seconds: 10 }]));
    fireEvent.click(await screen.findByRole("button", { name: "Stop the replay" }));
    await vi.waitFor(() =>
      expect(backend.called("replay")).toEqual([
        { peer: "p-omar", seconds: 10 },
        { peer: null, seconds: null },
      ]),
    );
    expect(await screen.findByRole("button", { name: "Play the last 30 s of Omar again" })).toBeTruthy();
  });

  it("offers the replay again once it has played (as long as it was)", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      fakeBackend({ replay: () => 2.5 });
      render(<Replay peer={null} name="your playing" />);
      fireEvent.click(screen.getByRole("button", { name: "Play the last 30 s of your playing again" }));
      await screen.findByRole("button", { name: "Stop the replay" });
      await vi.advanceTimersByTimeAsync(2_600);
      expect(await screen.findByRole("button", { name: "Play the last 10 s of your playing again" })).toBeTruthy();
    } finally {
      vi.useRealTimers();
    }
  });

  it("says so when nothing of the part has been heard yet", async () => {
    fakeBackend({ replay: failing({ code: "nothing_to_replay", message: "nothing heard" }) });
    render(<Replay peer="p-omar" name="Omar" />);
    fireEvent.click(screen.getByRole("button", { name: "Play the last 10 s of Omar again" }));
    expect(await screen.findByText("Nothing of that part has been heard yet.")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Stop the replay" })).toBeNull();
  });
});
