import { render, screen, fireEvent } from "@testing-library/react";
import { History } from "./History";
import { failing, fakeBackend } from "../test/ipc";
import type { LessonDetail, LessonSummary } from "../types";

const lesson: LessonSummary = {
  id: 7,
  title: "Bach partita",
  host: false,
  status: "ended",
  start_ms: 1_765_000_000_000,
  end_ms: 1_765_002_700_000,
  scheduled_minutes: 45,
  host_tz: "Asia/Seoul",
  student_tz: "Asia/Dubai",
  invite_code: null,
};

const detail: LessonDetail = {
  lesson,
  notes: [],
  questions: [],
  chat: [],
  takes: [
    {
      id: 3,
      started_ms: 1_765_000_100_000,
      duration_ms: 125_400,
      play: 12,
      files: [
        { id: 11, who: "김선생", path: "/data/recordings/lesson-7-1/김선생.wav", start_ms: 0, duration_ms: 125_400, created_ms: 1 },
        { id: 12, who: null, path: "/data/recordings/lesson-7-1/mix.opus", start_ms: 0, duration_ms: 125_400, created_ms: 2 },
      ],
      marks: [
        { at_ms: 2_500, kind: "mark", text: "" },
        { at_ms: 64_000, kind: "note", text: "Bow arm: elbow lower" },
        { at_ms: 90_000, kind: "question", text: "How do I keep the bow straight?" },
      ],
    },
  ],
  recordings: [{ id: 20, who: "Omar", path: "/data/recordings/received/Omar-1a2b3c4d.wav", start_ms: 0, duration_ms: 400, created_ms: 3 }],
};

describe("the history", () => {
  it("shows a take: its files, its waveform and its marks at their times", async () => {
    const backend = fakeBackend({
      lessons: () => [lesson],
      lesson_detail: () => detail,
      take_waveform: () => [0, 0.5, 1, 0.25],
      recording_file: () => new ArrayBuffer(8),
    });
    render(<History />);
    fireEvent.click(await screen.findByTestId("past-lesson"));
    const files = await screen.findByTestId("recordings");
    expect(Array.from(files.querySelectorAll("li")).map((li) => li.textContent)).toEqual([
      "김선생 2:05 · /data/recordings/lesson-7-1/김선생.wav",
      "Everyone, mixed 2:05 · /data/recordings/lesson-7-1/mix.opus",
    ]);
    await vi.waitFor(() =>
      expect(backend.called("take_waveform")).toEqual([{ lessonId: 7, takeId: 3, buckets: 400 }]),
    );
    await vi.waitFor(() => expect(screen.getByTestId("waveform").querySelectorAll("rect.peak").length).toBe(4));
    // Each mark on the waveform, and listed.
    expect(screen.getByTestId("waveform").querySelectorAll("line.mark").length).toBe(3);
    const marks = Array.from(screen.getByTestId("marks").querySelectorAll("li")).map((li) => li.textContent);
    expect(marks).toEqual([
      "0:02.5 ★ mark",
      "1:04 ✎ Bow arm: elbow lower",
      "1:30 ? How do I keep the bow straight?",
    ]);
    // Nothing is fetched until it is played; a mark fetches the mix and plays from its time.
    expect(backend.called("recording_file")).toEqual([]);
    const audio = screen.getByTestId("take-audio") as HTMLAudioElement;
    expect(audio.hidden).toBe(true);
    URL.createObjectURL = vi.fn(() => "blob:tutti/1");
    URL.revokeObjectURL = vi.fn();
    const played = vi.spyOn(HTMLMediaElement.prototype, "play").mockImplementation(() => Promise.resolve());
    fireEvent.click(screen.getByRole("button", { name: "Play from 1:04" }));
    await vi.waitFor(() => expect(audio.getAttribute("src")).toBe("blob:tutti/1"));
    expect(backend.called("recording_file")).toEqual([{ id: 12 }]);
    expect(audio.hidden).toBe(false);
    fireEvent(audio, new Event("loadedmetadata"));
    expect(audio.currentTime).toBe(64);
    expect(played).toHaveBeenCalled();
    // Once loaded, a mark only moves the player.
    fireEvent.click(screen.getByRole("button", { name: "Play from 1:30" }));
    expect(audio.currentTime).toBe(90);
    expect(backend.called("recording_file")).toHaveLength(1);
    // A take a student sent, apart, a short one not shown as empty.
    expect(screen.getByTestId("received").textContent).toContain("Omar 0:00.4");
  });

  it("says so when a recording's file is gone", async () => {
    fakeBackend({
      lessons: () => [lesson],
      lesson_detail: () => detail,
      take_waveform: () => [],
      recording_file: failing({ code: "recording_missing", message: "/data/recordings/lesson-7-1/mix.opus: not found" }),
    });
    render(<History />);
    fireEvent.click(await screen.findByTestId("past-lesson"));
    fireEvent.click((await screen.findAllByRole("button", { name: "▶ Play" }))[0]!);
    expect(await screen.findByText(/not where it was saved/)).toBeTruthy();
  });
});
