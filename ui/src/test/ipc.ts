// The backend, faked at the IPC seam: each test says what commands answer and sees what was called.
import { mockIPC } from "@tauri-apps/api/mocks";
import type { AppError, LessonView, QuestionView, Settings } from "../types";

export type Handler = (args: Record<string, unknown>) => unknown;

/** A command that fails the way the backend does: rejecting with `{code, message}`. */
export function failing(error: AppError): Handler {
  return () => {
    throw error;
  };
}

export function fakeBackend(handlers: Record<string, Handler>) {
  const calls: { cmd: string; args: Record<string, unknown> }[] = [];
  mockIPC(
    (cmd, args) => {
      const a = (args ?? {}) as Record<string, unknown>;
      if (!cmd.startsWith("plugin:")) calls.push({ cmd, args: a });
      const h = handlers[cmd];
      return h ? h(a) : null;
    },
    { shouldMockEvents: true },
  );
  return {
    calls,
    called: (cmd: string) => calls.filter((c) => c.cmd === cmd).map((c) => c.args),
  };
}

export const settings: Settings = {
  name: "김선생",
  host_locally: true,
  local_port: 8787,
  server_url: "ws://127.0.0.1:8787/ws",
  frame_ms: 5,
  bitrate_kbps: 128,
  language: "en",
  microphone: null,
  speaker: null,
  camera: null,
  audio_system: "auto",
  profile: { instruments: [], bio: "", photo: null },
};

export function question(id: number, patch: Partial<QuestionView> = {}): QuestionView {
  return {
    id,
    voice: false,
    text: `question ${id}`,
    author: "Omar",
    author_peer: "p-omar",
    votes: 0,
    voted: false,
    state: "open",
    pinned: false,
    pre_lesson: false,
    asked_ms: 1_000 * id,
    ...patch,
  };
}

export function lessonView(patch: Partial<LessonView> = {}): LessonView {
  return {
    local_id: 1,
    title: "Scales",
    code: "K7Q-4MZ-XP3",
    host_name: "김선생",
    host: true,
    you: { peer: "p-kim", name: "김선생", role: "host", mic: true, connected: true, link: null, hearing: false, recording: false },
    others: [
      {
        peer: "p-omar",
        name: "Omar",
        role: "student",
        mic: false,
        connected: true,
        link: "connected",
        hearing: true,
        recording: false,
      },
    ],
    waiting: [],
    questions: [],
    chat: [],
    note: "",
    muted: false,
    camera: "no_camera",
    problems: [],
    share_urls: ["ws://192.168.1.20:8787/ws"],
    server_url: "ws://127.0.0.1:8787/ws",
    teacher: null,
    metronome: null,
    metronome_volume: 1,
    mix: [],
    recording: null,
    marks: 0,
    ...patch,
  };
}
