import { useEffect, useState } from "react";
import { commands } from "../bindings";
import type { AppError, InvitePreview } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { cityOf, formatIn } from "../time";
import { ErrorLine } from "./ErrorLine";
import { TeacherCard } from "./TeacherCard";

/** Letters and digits of a code, as the server reads it: nine make a whole code. */
export function codeChars(code: string): string {
  return code.replace(/[\s-]/g, "");
}

/** Typing stops for this long before the room server is asked. */
export const ASK_AFTER_MS = 350;

/**
 * The lesson behind the code being typed, from the room server before knocking: its title and
 * teacher, when it is (in the student's time and the teacher's), and whether it has started,
 * ended or was cancelled. A wrong code says so here, before the student waits for nothing.
 */
export function InviteCard(props: { code: string; server: string }) {
  const { t, lang } = useI18n();
  const [shown, setShown] = useState<{ key: string; preview: InvitePreview | null; error: AppError | null } | null>(
    null,
  );
  const chars = codeChars(props.code);
  const key = `${chars.toUpperCase()} ${props.server.trim()}`;
  const whole = chars.length === 9;

  useEffect(() => {
    if (!whole) return;
    let live = true;
    const timer = setTimeout(() => {
      ok(commands.previewInvite(chars, props.server.trim())).then(
        (preview) => live && setShown({ key, preview, error: null }),
        (e) => live && setShown({ key, preview: null, error: asAppError(e) }),
      );
    }, ASK_AFTER_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [whole, chars, key, props.server]);

  // What was shown for another code is not this code's.
  if (!whole || !shown || shown.key !== key) return null;
  if (shown.error) return <ErrorLine error={shown.error} />;
  const p = shown.preview;
  if (!p) return null;
  const mine = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  // When it is (or was to be); an ended lesson, when it ended.
  const when = p.state === "live" ? p.started_ms : p.state === "ended" ? p.ended_ms : p.scheduled_ms;
  return (
    <div className={`invite-card ${p.state}`} data-testid="invite-card" data-state={p.state} role="status">
      <strong>{p.title}</strong>
      <span>
        {" "}
        {t("withTeacher")} {p.teacher}
      </span>
      <p>{t(`invite_${p.state}`)}</p>
      {when != null && (
        <p className="times">
          {t("yourTime")}: {formatIn(when, mine, lang)} ({cityOf(mine)})
          {p.teacher_tz && p.teacher_tz !== mine && (
            <>
              <br />
              {t("teacherTime")}: {formatIn(when, p.teacher_tz, lang)} ({cityOf(p.teacher_tz)})
            </>
          )}
        </p>
      )}
      {p.teacher_page && <TeacherCard server={props.server} id={p.teacher_page} />}
    </div>
  );
}
