// What the backend sends, by plain names. (The bindings also describe how each type would be
// read back into Rust; the screens only ever receive these.)
export type {
  AppError,
  AudioSystem,
  CameraStatus,
  ChatView,
  ErrorCode,
  KnockView,
  Language,
  OverKind,
  QuestionState,
  SearchHitView,
  CheckStarted_Serialize as CheckStarted,
  DeviceList_Serialize as DeviceList,
  LessonDetail_Serialize as LessonDetail,
  LessonSummary_Serialize as LessonSummary,
  LessonView_Serialize as LessonView,
  ParticipantView_Serialize as ParticipantView,
  PeerStatsView_Serialize as PeerStatsView,
  QuestionView_Serialize as QuestionView,
  Settings_Serialize as Settings,
} from "./bindings";
