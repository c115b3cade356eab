import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { emit } from "@tauri-apps/api/event";
import { App } from "./App";
import { failing, fakeBackend, lessonView, settings } from "./test/ipc";
import type { LessonSummary } from "./types";

const basics = {
  get_settings: () => settings,
  lesson_view: () => null,
  lessons: () => [],
  time_zones: () => ({ local: "Asia/Seoul", all: ["Asia/Dubai", "Asia/Seoul"] }),
  list_devices: () => ({ microphones: ["USB mic"], speakers: [], cameras: [], audio_error: null }),
  start_device_check: () => ({ microphone: null, camera: { code: "no_camera", message: "none" } }),
};

/** A lesson this computer scheduled as its host, in the upcoming list. */
function scheduled(patch: Partial<LessonSummary>): LessonSummary {
  return {
    id: 1,
    title: "Lesson",
    host: true,
    status: "scheduled",
    start_ms: 1_900_000_000_000,
    end_ms: null,
    scheduled_minutes: 60,
    host_tz: "Asia/Seoul",
    student_tz: null,
    invite_code: "K7Q-4MZ-XP3",
    ...patch,
  };
}

describe("the app", () => {
  it("joins with the code as typed, after the device check", async () => {
    const ipc = fakeBackend({ ...basics, join_lesson: () => lessonView({ host: false }) });
    render(<App />);
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Invite code"), "k7q 4mz xp3");
    await user.click(screen.getByRole("button", { name: "Join" }));
    // The check: music mode, the headphones reminder, and no camera said plainly.
    expect(await screen.findByText(/Use headphones/)).toBeTruthy();
    expect(await screen.findByText(/No camera/)).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Continue" }));
    await waitFor(() =>
      expect(ipc.called("join_lesson")).toEqual([
        { code: "k7q 4mz xp3", server: "ws://127.0.0.1:8787/ws" },
      ]),
    );
    expect(await screen.findByText("Scales")).toBeTruthy();
  });

  it("says a wrong code in Korean when the user chose Korean", async () => {
    fakeBackend({
      ...basics,
      get_settings: () => ({ ...settings, language: "ko" }),
      join_lesson: failing({ code: "wrong_code", message: "no lesson has the code" }),
    });
    render(<App />);
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("초대 코드"), "AAA-BBB-CCC");
    await user.click(screen.getByRole("button", { name: "참여" }));
    await user.click(await screen.findByRole("button", { name: "계속" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("이 코드의 수업이 없습니다");
    expect(alert.getAttribute("data-code")).toBe("wrong_code");
  });

  it("follows the lesson from the backend's events until it is over", async () => {
    fakeBackend(basics);
    render(<App />);
    await screen.findByText("Host a lesson now");
    await emit("lesson-changed", lessonView({ waiting: [{ peer: "p-2", name: "Sara", observer: false, at_ms: 0 }] }));
    expect((await screen.findByTestId("invite-code")).textContent).toBe("K7Q-4MZ-XP3");
    expect(screen.getByText("Sara")).toBeTruthy();
    await emit("lesson-over", { reason: "ended", detail: "the lesson has ended" });
    expect(await screen.findByText("The teacher ended the lesson.")).toBeTruthy();
    expect(screen.queryByTestId("invite-code")).toBeNull();
  });

  it("says so when the room server did not confirm the end of the lesson", async () => {
    fakeBackend({
      ...basics,
      leave_lesson: failing({ code: "not_ended", message: "timed out" }),
    });
    vi.spyOn(window, "confirm").mockReturnValue(true);
    render(<App />);
    await screen.findByText("Host a lesson now");
    await emit("lesson-changed", lessonView());
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "End lesson" }));
    const alert = await screen.findByRole("alert");
    expect(alert.getAttribute("data-code")).toBe("not_ended");
    expect(alert.textContent).toContain("still open");
    expect(screen.queryByText(/You ended the lesson/)).toBeNull();
  });

  it("offers to open again a scheduled lesson the room server no longer knows", async () => {
    const upcoming = scheduled({ id: 4, title: "Scales", student_tz: "Asia/Dubai" });
    let starts = 0;
    const ipc = fakeBackend({
      ...basics,
      lessons: (a) => (a.which === "upcoming" ? [upcoming] : []),
      start_scheduled: () => {
        starts += 1;
        if (starts === 1) throw { code: "lesson_unknown", message: "the room server no longer knows this lesson" };
        return lessonView();
      },
      reopen_scheduled: () => ({ ...upcoming, invite_code: "N3W-C0D-E42" }),
    });
    render(<App />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Start" }));
    await user.click(await screen.findByRole("button", { name: "Continue" }));
    // (The device check says there is no camera, in an alert of its own.)
    await waitFor(() => expect(document.querySelector('[data-code="lesson_unknown"]')).not.toBeNull());
    expect(document.querySelector('[data-code="lesson_unknown"]')?.textContent).toContain("new code");
    await user.click(screen.getByRole("button", { name: "Open it again with a new code" }));
    await waitFor(() => expect(ipc.called("start_scheduled")).toHaveLength(2));
    expect(ipc.called("reopen_scheduled")).toEqual([{ id: 4 }]);
    expect(await screen.findByTestId("invite-code")).toBeTruthy();
  });

  it("cancels a lesson here only when the room server cannot be told", async () => {
    const upcoming = scheduled({ id: 5, title: "Etudes" });
    const ipc = fakeBackend({
      ...basics,
      lessons: (a) => (a.which === "upcoming" ? [upcoming] : []),
      cancel_scheduled: (a) => {
        if (!a.hereOnly) throw { code: "not_cancelled", message: "cannot reach" };
        return null;
      },
    });
    render(<App />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Cancel lesson" }));
    const alert = await screen.findByRole("alert");
    expect(alert.getAttribute("data-code")).toBe("not_cancelled");
    await user.click(screen.getByRole("button", { name: "Cancel it here only" }));
    await waitFor(() =>
      expect(ipc.called("cancel_scheduled")).toEqual([
        { id: 5, hereOnly: false },
        { id: 5, hereOnly: true },
      ]),
    );
  });
});
