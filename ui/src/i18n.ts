// Korean and English. The language follows the system unless the user picked one in Settings.
import { createContext, useContext } from "react";
import type { ErrorCode, Field, Language, Problem } from "./types";

export type Lang = "ko" | "en";

const en = {
  appName: "Tutti",
  home: "Home",
  history: "Lessons",
  settings: "Settings",
  hostNow: "Host a lesson now",
  lessonTitle: "Lesson title",
  defaultTitle: "Lesson",
  host: "Host",
  schedule: "Schedule a lesson",
  date: "Date and time",
  minutes: "Length (minutes)",
  studentZone: "Student's time zone",
  scheduleIt: "Schedule",
  yourTime: "Your time",
  theirTime: "Student's time",
  teacherTime: "Teacher's time",
  withTeacher: "with",
  invite_scheduled: "Not started yet. You can knock now and wait for the teacher.",
  invite_live: "The lesson has started. Knock, and the teacher lets you in.",
  invite_ended: "This lesson has ended.",
  invite_cancelled: "This lesson was cancelled.",
  cancelHereOnly: "Cancel it here only",
  reopenLesson: "Open it again with a new code",
  join: "Join a lesson",
  inviteCode: "Invite code",
  codeHint: "The code your teacher sent, e.g. K7Q-4MZ-XP3 (capitals or not)",
  roomServer: "Room server",
  joinIt: "Join",
  upcoming: "Upcoming",
  past: "Past lessons",
  none: "Nothing yet.",
  start: "Start",
  cancel: "Cancel",
  cancelLesson: "Cancel lesson",
  cancelled: "cancelled",
  deviceCheck: "Before you start",
  microphone: "Microphone",
  speaker: "Speaker",
  camera: "Camera",
  systemDefault: "System default",
  noDevices: "None found",
  inputLevel: "Input level",
  testSound: "Play a test sound",
  musicMode:
    "Music mode is on: no echo cancellation, no automatic gain, no noise suppression — your instrument sounds as it is.",
  headphones: "Use headphones: without echo cancellation, the speaker would feed back into the microphone.",
  continue: "Continue",
  back: "Back",
  waitingForAdmit: "Waiting for the teacher to let you in…",
  stopWaiting: "Stop waiting",
  code: "Invite code",
  copy: "Copy",
  copied: "Copied",
  shareAt: "Others on your network join with this server:",
  waiting: "Waiting to join",
  observer: "observer",
  admit: "Admit",
  deny: "Deny",
  remove: "Remove",
  mute: "Mute",
  unmute: "Unmute",
  cameraOn: "Camera on",
  cameraOff: "Camera off",
  leave: "Leave",
  endLesson: "End lesson",
  endConfirm: "End the lesson for everyone?",
  nobodyYet: "Nobody else is here yet. Send the invite code to your student.",
  noPicture: "No picture",
  you: "You",
  connecting: "connecting…",
  reconnecting: "Connection lost — reconnecting…",
  recentLessons: "Recent lessons",
  allLessons: "All lessons",
  oneWay: "one-way",
  buffer: "buffer",
  loss: "loss",
  repaired: "repaired",
  soundCards: "sound cards",
  yourLevel: "Your microphone's level",
  theirLevel: "Level of what you hear from",
  questions: "Questions",
  chat: "Chat",
  recordings: "Recordings",
  recordingMix: "Everyone, mixed",
  notes: "Notes",
  open: "Open",
  answered: "Answered",
  dismissed: "Dismissed",
  newest: "Newest",
  mostVoted: "Most voted",
  askPlaceholder: "Ask a question…",
  ask: "Ask",
  voice: "Ask to speak",
  anonymous: "Anonymous",
  anonymousName: "Anonymous",
  beforeLesson: "before the lesson",
  pinned: "Pinned",
  pin: "Pin",
  unpin: "Unpin",
  markAnswered: "Answered",
  dismiss: "Dismiss",
  reopen: "Reopen",
  grantMic: "Give the mic",
  revokeMic: "Take the mic back",
  upvote: "Upvote",
  noQuestions: "No questions.",
  chatPlaceholder: "Message…",
  send: "Send",
  notesPlaceholder: "Notes for this lesson (saved as you type)…",
  saved: "Saved",
  saving: "Saving…",
  search: "Search notes and questions",
  export: "Export as Markdown",
  exportedTo: "Saved to",
  name: "Your name",
  hostLocally: "Run the room server on this computer",
  localPort: "Port",
  serverUrl: "Room server address",
  audioSystem: "Sound system",
  audioSystemAuto: "The system's (PulseAudio, PipeWire)",
  audioSystemHint: "JACK: Tutti's ports are connected to the system's; the period is the JACK server's.",
  frameMs: "Audio frame (ms)",
  frameHint: "Shorter is less delay and more CPU.",
  bitrate: "Audio bitrate (kbit/s)",
  language: "Language",
  auto: "Follow the system",
  save: "Save",
  lessonOver: "The lesson is over",
  over_ended: "The teacher ended the lesson.",
  over_removed: "The teacher removed you from the lesson.",
  over_replaced: "You joined this lesson from another window or computer.",
  over_server_closed: "The room server shut down.",
  over_disconnected: "The connection to the room server was lost.",
  over_expired: "You were away too long and the lesson gave up your place. Join again with the code.",
  youLeft: "You left the lesson.",
  youEnded: "You ended the lesson. It is in your lessons, with its notes and questions.",
  problems: "Problems",
  micOn: "mic",
  teacher: "teacher",
  minutesShort: "min",
  scheduledFor: "Scheduled",
  noteCount: "notes",
  metronome: "Metronome",
  tempo: "Tempo",
  bpm: "BPM",
  beatsPerBar: "Beats",
  countIn: "Count-in bars",
  startMetronome: "Start",
  updateMetronome: "Change",
  stopMetronome: "Stop",
  metronomeVolume: "Metronome volume (yours only)",
  countingIn: "Count-in",
  metronomeOff: "Off",
  metronomeShared:
    "Every computer plays the clicks itself from a shared clock, so you and your student hear each beat at the same moment.",
  clockSync: "clock",
  tuner: "Tuner",
  referenceA: "A =",
  noPitch: "no note",
  leaderFollower: "Leader–follower",
  leadStudent: "The student plays along with me",
  follows: "follows you",
  hearsYouAfter: "hears you",
  youHearAfter: "you hear them",
  alignedToBeat: "placed on the beat they heard",
  shiftedBack: "their part shifted back",
  replayAligned: "Replay the last 10 s, aligned",
  stopReplay: "Stop the replay",
  hearYourselfDelayed: "Hear yourself delayed to meet them",
  leaderFollowerHelp:
    "Between distant cities no two people can play in lockstep. Lead, and the student plays along with what reaches them: you hear the duet as they played it.",
  measured: "measured",
  replayPart: "Play again",
  replayLastSeconds: "Play the last {seconds} s of {name} again",
  yourPart: "your playing",
  record: "● Record",
  stopRecording: "■ Stop recording",
  recordedBy: "Being recorded by",
  recordingInto: "Recording into",
  recordingSaved: "Recording saved in",
  mark: "★ Mark",
  markHint: "Mark this moment: it is found again on the recording, in the history",
  marksMade: "Marks:",
  take: "Take",
  takesReceived: "Takes students sent",
  waveform: "Waveform: click to play from there",
  playFrom: "Play from",
  play: "▶ Play",
  markWord: "mark",
  askedAloud: "asked aloud",
} as const;

export type Key = keyof typeof en;

const ko: Record<Key, string> = {
  appName: "Tutti",
  home: "홈",
  history: "수업 기록",
  settings: "설정",
  hostNow: "지금 수업 열기",
  lessonTitle: "수업 제목",
  defaultTitle: "수업",
  host: "수업 열기",
  schedule: "수업 예약",
  date: "날짜와 시간",
  minutes: "길이(분)",
  studentZone: "학생의 시간대",
  scheduleIt: "예약",
  yourTime: "내 시간",
  theirTime: "학생 시간",
  teacherTime: "선생님 시간",
  withTeacher: "선생님:",
  invite_scheduled: "아직 시작하지 않았습니다. 지금 입장을 요청하고 선생님을 기다릴 수 있습니다.",
  invite_live: "수업이 시작되었습니다. 입장을 요청하면 선생님이 들여보내 줍니다.",
  invite_ended: "이 수업은 끝났습니다.",
  invite_cancelled: "이 수업은 취소되었습니다.",
  cancelHereOnly: "이 컴퓨터에서만 취소",
  reopenLesson: "새 코드로 다시 열기",
  join: "수업 참여",
  inviteCode: "초대 코드",
  codeHint: "선생님이 보낸 코드, 예: K7Q-4MZ-XP3 (대소문자 상관없음)",
  roomServer: "룸 서버",
  joinIt: "참여",
  upcoming: "예정된 수업",
  past: "지난 수업",
  none: "아직 없습니다.",
  start: "시작",
  cancel: "취소",
  cancelLesson: "수업 취소",
  cancelled: "취소됨",
  deviceCheck: "시작하기 전에",
  microphone: "마이크",
  speaker: "스피커",
  camera: "카메라",
  systemDefault: "시스템 기본값",
  noDevices: "찾을 수 없음",
  inputLevel: "입력 레벨",
  testSound: "테스트 소리 재생",
  musicMode:
    "음악 모드 켜짐: 에코 제거, 자동 음량, 잡음 제거를 하지 않아 악기 소리가 그대로 전달됩니다.",
  headphones: "헤드폰을 쓰세요. 에코 제거가 없어 스피커 소리가 마이크로 다시 들어갑니다.",
  continue: "계속",
  back: "뒤로",
  waitingForAdmit: "선생님이 입장을 허락하기를 기다리는 중…",
  stopWaiting: "기다리지 않기",
  code: "초대 코드",
  copy: "복사",
  copied: "복사됨",
  shareAt: "같은 네트워크의 사람은 이 서버로 참여합니다:",
  waiting: "입장 대기",
  observer: "참관",
  admit: "입장 허락",
  deny: "거절",
  remove: "내보내기",
  mute: "음소거",
  unmute: "음소거 해제",
  cameraOn: "카메라 켜기",
  cameraOff: "카메라 끄기",
  leave: "나가기",
  endLesson: "수업 종료",
  endConfirm: "모두에게 수업을 종료할까요?",
  nobodyYet: "아직 아무도 없습니다. 학생에게 초대 코드를 보내세요.",
  noPicture: "화면 없음",
  you: "나",
  connecting: "연결 중…",
  reconnecting: "연결이 끊겼습니다 — 다시 연결하는 중…",
  recentLessons: "최근 수업",
  allLessons: "모든 수업",
  oneWay: "단방향",
  buffer: "버퍼",
  repaired: "보정",
  soundCards: "사운드 카드",
  yourLevel: "내 마이크 음량",
  theirLevel: "들리는 음량:",
  loss: "손실",
  questions: "질문",
  chat: "채팅",
  recordings: "녹음",
  recordingMix: "모두 (믹스)",
  notes: "노트",
  open: "대기 중",
  answered: "답변됨",
  dismissed: "닫힘",
  newest: "최신순",
  mostVoted: "추천순",
  askPlaceholder: "질문하기…",
  ask: "질문",
  voice: "말로 질문",
  anonymous: "익명",
  anonymousName: "익명",
  beforeLesson: "수업 전",
  pinned: "고정됨",
  pin: "고정",
  unpin: "고정 해제",
  markAnswered: "답변 완료",
  dismiss: "닫기",
  reopen: "다시 열기",
  grantMic: "마이크 주기",
  revokeMic: "마이크 회수",
  upvote: "추천",
  noQuestions: "질문이 없습니다.",
  chatPlaceholder: "메시지…",
  send: "보내기",
  notesPlaceholder: "이 수업의 노트(입력하면 저장됩니다)…",
  saved: "저장됨",
  saving: "저장 중…",
  search: "노트와 질문 검색",
  export: "Markdown으로 내보내기",
  exportedTo: "저장 위치",
  name: "이름",
  hostLocally: "이 컴퓨터에서 룸 서버 실행",
  localPort: "포트",
  serverUrl: "룸 서버 주소",
  audioSystem: "사운드 시스템",
  audioSystemAuto: "시스템 기본(PulseAudio, PipeWire)",
  audioSystemHint: "JACK: Tutti의 포트가 시스템 포트에 연결되고, 주기는 JACK 서버의 것을 따릅니다.",
  frameMs: "오디오 프레임(ms)",
  frameHint: "짧을수록 지연이 적고 CPU를 더 씁니다.",
  bitrate: "오디오 비트레이트(kbit/s)",
  language: "언어",
  auto: "시스템 설정 따르기",
  save: "저장",
  lessonOver: "수업이 끝났습니다",
  over_ended: "선생님이 수업을 마쳤습니다.",
  over_removed: "선생님이 수업에서 내보냈습니다.",
  over_replaced: "다른 창이나 컴퓨터에서 이 수업에 참여했습니다.",
  over_server_closed: "룸 서버가 종료되었습니다.",
  over_disconnected: "룸 서버와의 연결이 끊겼습니다.",
  over_expired: "연결이 너무 오래 끊겨 수업 자리가 없어졌습니다. 코드로 다시 참여하세요.",
  youLeft: "수업에서 나왔습니다.",
  youEnded: "수업을 마쳤습니다. 노트와 질문은 수업 기록에 있습니다.",
  problems: "문제",
  micOn: "마이크",
  teacher: "선생님",
  minutesShort: "분",
  scheduledFor: "예정",
  noteCount: "노트",
  metronome: "메트로놈",
  tempo: "빠르기",
  bpm: "BPM",
  beatsPerBar: "박자",
  countIn: "예비 마디",
  startMetronome: "시작",
  updateMetronome: "변경",
  stopMetronome: "정지",
  metronomeVolume: "메트로놈 음량(나에게만)",
  countingIn: "예비 박",
  metronomeOff: "꺼짐",
  metronomeShared:
    "모든 컴퓨터가 공유 시계에 맞춰 직접 클릭을 내므로 선생님과 학생이 같은 순간에 박을 듣습니다.",
  clockSync: "시계",
  tuner: "튜너",
  referenceA: "기준 A =",
  noPitch: "음 없음",
  leaderFollower: "리더–팔로워",
  leadStudent: "학생이 내 연주에 맞춰 연주",
  follows: "님이 따라 연주 중",
  hearsYouAfter: "내 소리를 듣는 지연",
  youHearAfter: "내가 듣는 지연",
  alignedToBeat: "학생이 들은 박에 맞춤",
  shiftedBack: "학생 파트를 앞당김",
  replayAligned: "마지막 10초를 맞춰서 다시 듣기",
  stopReplay: "다시 듣기 정지",
  hearYourselfDelayed: "내 소리를 학생에 맞춰 늦춰 듣기",
  leaderFollowerHelp:
    "먼 도시 사이에서는 두 사람이 동시에 맞춰 연주할 수 없습니다. 선생님이 이끌고 학생은 들리는 대로 따라 연주하면, 학생이 연주한 그대로의 합주를 들을 수 있습니다.",
  measured: "측정",
  replayPart: "다시 듣기",
  replayLastSeconds: "{name}의 마지막 {seconds}초 다시 듣기",
  yourPart: "내 연주",
  record: "● 녹음",
  stopRecording: "■ 녹음 정지",
  recordedBy: "녹음 중:",
  recordingInto: "녹음 위치",
  recordingSaved: "녹음 저장 위치",
  mark: "★ 표시",
  markHint: "이 순간을 표시합니다. 수업 기록의 녹음에서 다시 찾을 수 있습니다",
  marksMade: "표시:",
  take: "녹음",
  takesReceived: "학생이 보낸 녹음",
  waveform: "파형: 누르면 그 지점부터 재생합니다",
  playFrom: "여기부터 재생",
  play: "▶ 재생",
  markWord: "표시",
  askedAloud: "음성 질문",
};

const errors: Record<Lang, Record<ErrorCode, string>> = {
  en: {
    server_unreachable: "The room server cannot be reached.",
    reconnecting:
      "The room server cannot be reached; reconnecting. The sound goes on; questions and chat work again once it is back.",
    wrong_code: "No lesson has this code. Check it with your teacher.",
    lesson_ended: "This lesson has ended.",
    too_many_tries: "Too many wrong codes from your network: wait a minute, then check the code with your teacher.",
    lesson_unknown:
      "The room server no longer knows this lesson (it was reset). Open it again: it gets a new code to send your students.",
    not_cancelled:
      "The room server could not be told, so the lesson is still scheduled there. Try again when you are online, or cancel it here only.",
    denied: "The teacher did not let you in.",
    cancelled: "Cancelled.",
    not_ended:
      "The room server did not confirm the end: the lesson is still open. Start it again from Upcoming to end it.",
    not_in_lesson: "You are not in a lesson.",
    already_in_lesson: "You are already in a lesson.",
    not_host: "Only the teacher can do this.",
    no_microphone: "No microphone: others will not hear you.",
    no_speaker: "No speaker: you will not hear the others.",
    no_jack_server:
      "JACK is chosen in Settings, but no JACK server is running. Start JACK (or PipeWire), or choose the system's sound.",
    microphone_stalled:
      "Your microphone keeps stalling: the others hear gaps. Close other programs, or check the device.",
    speaker_stalled:
      "Your speaker keeps stalling: you hear gaps. Close other programs, or check the device.",
    no_camera: "No camera: the lesson goes on with sound.",
    permission_denied: "The system refused access to the device.",
    invalid_input: "That is not valid.",
    store: "Your lessons could not be saved (is the disk full?).",
    local_server: "The room server on this computer could not start.",
    refused: "The room server refused.",
    no_follower: "No student is here to play along.",
    not_measured: "Not yet: the student's side has not measured how late it hears you. Try again in a moment.",
    nothing_to_replay: "Nothing of that part has been heard yet.",
    disk_full: "The disk is full: the recording stopped. What was recorded is kept.",
    recording_failed: "The recording could not be written; what was recorded is kept.",
    take_not_delivered: "Your recording could not be sent to the teacher; it is kept on this computer.",
    recording_missing: "This recording's file is not where it was saved: it was moved or deleted.",
    mix_failed: "The recording's mix could not be made; every part's track is kept and plays in the history.",
    internal: "Something went wrong.",
  },
  ko: {
    server_unreachable: "룸 서버에 연결할 수 없습니다.",
    reconnecting:
      "룸 서버에 연결할 수 없어 다시 연결하는 중입니다. 소리는 계속되며, 질문과 채팅은 다시 연결되면 쓸 수 있습니다.",
    wrong_code: "이 코드의 수업이 없습니다. 선생님께 코드를 확인하세요.",
    lesson_ended: "이 수업은 끝났습니다.",
    too_many_tries: "이 네트워크에서 틀린 코드를 너무 많이 입력했습니다. 1분 뒤에 선생님께 코드를 확인하고 다시 시도하세요.",
    lesson_unknown:
      "룸 서버가 이 수업을 더 이상 알지 못합니다(서버가 초기화되었습니다). 다시 열면 학생에게 보낼 새 코드가 생깁니다.",
    not_cancelled:
      "룸 서버에 알리지 못해 수업이 서버에는 아직 예정되어 있습니다. 연결된 뒤 다시 시도하거나 이 컴퓨터에서만 취소하세요.",
    denied: "선생님이 입장을 허락하지 않았습니다.",
    cancelled: "취소되었습니다.",
    not_ended: "룸 서버가 수업 종료를 확인하지 않아 수업이 아직 열려 있습니다. 예정된 수업에서 다시 시작한 뒤 종료하세요.",
    not_in_lesson: "수업 중이 아닙니다.",
    already_in_lesson: "이미 수업 중입니다.",
    not_host: "선생님만 할 수 있습니다.",
    no_microphone: "마이크가 없습니다. 다른 사람이 내 소리를 들을 수 없습니다.",
    no_speaker: "스피커가 없습니다. 다른 사람의 소리를 들을 수 없습니다.",
    no_jack_server:
      "설정에서 JACK을 골랐지만 JACK 서버가 실행 중이 아닙니다. JACK(또는 PipeWire)을 시작하거나 시스템 소리를 고르세요.",
    microphone_stalled:
      "마이크 소리가 자꾸 끊깁니다. 다른 사람에게 끊겨 들립니다. 다른 프로그램을 닫거나 장치를 확인하세요.",
    speaker_stalled:
      "스피커 소리가 자꾸 끊깁니다. 다른 프로그램을 닫거나 장치를 확인하세요.",
    no_camera: "카메라가 없습니다. 수업은 소리로 계속됩니다.",
    permission_denied: "시스템이 장치 사용을 거부했습니다.",
    invalid_input: "올바르지 않은 값입니다.",
    store: "수업 기록을 저장할 수 없습니다(디스크가 가득 찼나요?).",
    local_server: "이 컴퓨터의 룸 서버를 시작할 수 없습니다.",
    refused: "룸 서버가 거부했습니다.",
    no_follower: "따라 연주할 학생이 없습니다.",
    not_measured: "아직 학생 쪽에서 지연을 측정하지 못했습니다. 잠시 후 다시 시도하세요.",
    nothing_to_replay: "아직 들린 소리가 없어 다시 들을 수 없습니다.",
    disk_full: "디스크가 가득 차서 녹음이 멈췄습니다. 녹음된 부분은 보관됩니다.",
    recording_failed: "녹음을 저장하지 못했습니다. 녹음된 부분은 보관됩니다.",
    take_not_delivered: "녹음을 선생님께 보내지 못했습니다. 이 컴퓨터에 보관됩니다.",
    recording_missing: "녹음 파일이 저장된 곳에 없습니다. 옮겨졌거나 지워졌습니다.",
    mix_failed: "녹음 믹스를 만들지 못했습니다. 각 파트의 트랙은 보관되며 수업 기록에서 재생됩니다.",
    internal: "문제가 생겼습니다.",
  },
};

export const dictionaries: Record<Lang, Record<Key, string>> = { en, ko };

/** The language to show: the user's choice, else the system's (Korean or English). */
export function pickLanguage(setting: Language, systemLanguages: readonly string[]): Lang {
  if (setting === "ko" || setting === "en") return setting;
  for (const l of systemLanguages) {
    const base = l.toLowerCase().split("-")[0];
    if (base === "ko") return "ko";
    if (base === "en") return "en";
  }
  return "en";
}

const fields: Record<Lang, Record<Field, string>> = {
  en: {
    title: "The title",
    name: "The name",
    question: "The question",
    message: "The message",
    note: "The note",
    about: "The note about the student",
    lesson_minutes: "A lesson's length (minutes)",
    local_port: "The local port",
    bitrate: "The bitrate (kb/s)",
    tempo: "The tempo (beats a minute)",
    beats: "The beats in a bar",
    count_in: "The count-in (bars)",
    volume: "The volume",
    reference_a: "The reference A (Hz)",
    replay_seconds: "A replay (seconds)",
    text: "The text",
  },
  ko: {
    title: "제목",
    name: "이름",
    question: "질문",
    message: "메시지",
    note: "메모",
    about: "학생 메모",
    lesson_minutes: "수업 길이(분)",
    local_port: "로컬 포트",
    bitrate: "비트레이트(kb/s)",
    tempo: "템포(분당 박)",
    beats: "한 마디의 박 수",
    count_in: "예비 박(마디)",
    volume: "음량",
    reference_a: "기준 음 A(Hz)",
    replay_seconds: "다시 듣기(초)",
    text: "글",
  },
};

/** The room server's own refusals, by their wire code; others get the general sentence. */
const serverRefusals: Record<Lang, Record<string, string>> = {
  en: {
    lesson_full: "The lesson is full.",
    lesson_live: "The lesson has already started.",
    storage: "The room server could not save this; nothing changed. Try again.",
    invalid_input: "The room server did not accept it (too long, or empty?).",
    version_mismatch: "This app and the room server are different versions: update the app.",
    no_such_peer: "That participant is no longer in the lesson.",
    no_such_question: "That question is no longer there.",
    session_expired: "Your place in the lesson has expired: join again.",
    rate_limited: "Too much at once: wait a moment and try again.",
  },
  ko: {
    lesson_full: "수업 정원이 찼습니다.",
    lesson_live: "수업이 이미 시작되었습니다.",
    storage: "룸 서버가 저장하지 못했습니다. 바뀐 것은 없습니다. 다시 시도하세요.",
    invalid_input: "룸 서버가 받아들이지 않았습니다(너무 길거나 비어 있나요?).",
    version_mismatch: "앱과 룸 서버의 버전이 다릅니다. 앱을 업데이트하세요.",
    no_such_peer: "그 참가자는 더 이상 수업에 없습니다.",
    no_such_question: "그 질문은 더 이상 없습니다.",
    session_expired: "수업 자리가 만료되었습니다. 다시 참여하세요.",
    rate_limited: "한꺼번에 너무 많이 보냈습니다. 잠시 뒤 다시 시도하세요.",
  },
};

/** A problem in words; `null` when there are none for it (the code's sentence is said then). */
export function problemText(lang: Lang, p: Problem): string | null {
  const ko = lang === "ko";
  // (A Rust f64 may arrive as null: not a number.)
  const num = (n: number | null) =>
    n == null ? "?" : n.toLocaleString(ko ? "ko-KR" : "en-GB", { useGrouping: false });
  switch (p.key) {
    case "length":
      return ko
        ? `${fields.ko[p.what]}: 1–${num(p.max)}자로 써 주세요.`
        : `${fields.en[p.what]} must be 1 to ${num(p.max)} characters.`;
    case "empty":
      return ko ? `${fields.ko[p.what]}: 내용을 써 주세요.` : `${fields.en[p.what]} is empty.`;
    case "range":
      return ko
        ? `${fields.ko[p.what]}: ${num(p.min)}–${num(p.max)} 사이여야 합니다.`
        : `${fields.en[p.what]} must be ${num(p.min)} to ${num(p.max)}.`;
    case "no_time":
      return ko ? "날짜와 시간을 고르세요." : "Choose a date and time.";
    case "server_address":
      return ko
        ? "룸 서버 주소는 ws:// 또는 wss://로 시작합니다."
        : "A room server's address starts with ws:// or wss://.";
    case "unknown_zone":
      return ko ? `알 수 없는 시간대입니다: ${p.zone}` : `Unknown time zone: ${p.zone}.`;
    case "frame_length":
      return ko
        ? "프레임 길이는 2.5, 5, 10, 20 ms 중 하나입니다."
        : "The frame length is 2.5, 5, 10 or 20 ms.";
    case "no_such_question":
      return ko ? "그 질문은 더 이상 없습니다." : "That question is no longer there.";
    case "too_large_to_play":
      return ko
        ? `여기서 재생하기에 너무 큽니다(${num(p.mb)} MB). 폴더에서 여세요.`
        : `Too large to play here (${num(p.mb)} MB): open it from its folder.`;
    case "already_recording":
      return ko ? "이미 녹음 중입니다." : "Already recording.";
    case "not_here":
      return ko ? "그 사람은 수업에 없습니다." : "They are not in the lesson.";
    case "server":
      return serverRefusals[lang][p.code] ?? null;
  }
}

export interface I18n {
  lang: Lang;
  t: (key: Key) => string;
  /** An error in words, all in the user's language: the problem when there is one, else the
   *  code's sentence. (The English detail stays in `message`, for the tooltip and reports.) */
  error: (e: { code: ErrorCode; message: string; problem?: Problem | null }) => string;
}

export function makeI18n(lang: Lang): I18n {
  const dict = dictionaries[lang];
  return {
    lang,
    t: (key) => dict[key],
    error: (e) => {
      const said = e.problem ? problemText(lang, e.problem) : null;
      return said ?? errors[lang][e.code] ?? errors[lang].internal;
    },
  };
}

export const I18nContext = createContext<I18n>(makeI18n("en"));
export const useI18n = () => useContext(I18nContext);
