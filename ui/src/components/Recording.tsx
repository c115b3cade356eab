import { useState } from "react";
import { commands } from "../bindings";
import type { AppError, LessonView } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { ErrorLine } from "./ErrorLine";

/**
 * Who records the lesson, for everyone to see (nobody is recorded unawares), and our own
 * Record / Stop: every part goes to its own file, on one timeline, in the app's data folder.
 * ★ Mark puts a mark on the timeline now (found again in the history, with the questions and
 * the lines of the notes as they were asked and typed).
 */
export function Recording({ view }: { view: LessonView }) {
  const { t } = useI18n();
  const [error, setError] = useState<AppError | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const recorders = [
    ...(view.recording != null || view.you.recording ? [t("you")] : []),
    ...view.others.filter((o) => o.recording).map((o) => o.name),
  ];

  const set = (on: boolean) =>
    ok(commands.setRecording(on)).then(
      (dir) => {
        setError(null);
        setSaved(on ? null : dir);
      },
      (e) => setError(asAppError(e)),
    );

  return (
    <div className="recording">
      {recorders.length > 0 && (
        <p className="recorded" role="status" data-testid="recorded-by">
          <span className="dot" aria-hidden="true">
            ●
          </span>{" "}
          {t("recordedBy")} {recorders.join(", ")}
        </p>
      )}
      {view.recording != null ? (
        <>
          <button className="danger" onClick={() => void set(false)}>
            {t("stopRecording")}
          </button>
          <span className="muted">
            {t("recordingInto")} {view.recording}
          </span>
        </>
      ) : (
        <button onClick={() => void set(true)}>{t("record")}</button>
      )}
      <button
        onClick={() =>
          ok(commands.addMark("")).then(
            () => setError(null),
            (e) => setError(asAppError(e)),
          )
        }
        title={t("markHint")}
      >
        {t("mark")}
      </button>
      {view.marks > 0 && (
        <span className="muted" role="status" data-testid="marks-made">
          {t("marksMade")} {view.marks}
        </span>
      )}
      {saved && (
        <span className="muted" data-testid="recording-saved">
          {t("recordingSaved")} {saved}
        </span>
      )}
      <ErrorLine error={error} />
    </div>
  );
}
