import { render, screen, fireEvent } from "@testing-library/react";
import { History } from "./History";
import { fakeBackend } from "../test/ipc";
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
  recordings: [
    { who: "김선생", path: "/data/recordings/lesson-7-1/김선생.wav", duration_ms: 125_400, created_ms: 1 },
    { who: null, path: "/data/recordings/lesson-7-1/mix.opus", duration_ms: 125_400, created_ms: 2 },
  ],
};

describe("the history", () => {
  it("lists a lesson's recordings: every part's track and the mix of all", async () => {
    fakeBackend({ lessons: () => [lesson], lesson_detail: () => detail });
    render(<History />);
    fireEvent.click(await screen.findByTestId("past-lesson"));
    const list = await screen.findByTestId("recordings");
    const items = Array.from(list.querySelectorAll("li")).map((li) => li.textContent);
    expect(items).toEqual([
      "김선생 2:05 · /data/recordings/lesson-7-1/김선생.wav",
      "Everyone, mixed 2:05 · /data/recordings/lesson-7-1/mix.opus",
    ]);
  });
});
