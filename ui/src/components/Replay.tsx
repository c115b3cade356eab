import { useEffect, useState } from "react";
import { commands } from "../bindings";
import type { AppError } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { ErrorLine } from "./ErrorLine";

/** What a replay can go back, seconds (the app keeps the last 30 s of every part). */
export const REPLAY_CHOICES = [10, 30] as const;

/**
 * Instant replay of one part — a participant's as you heard it, or (`peer` null) your own as
 * your microphone took it — in your ears while the lesson goes on: the teacher hears the
 * student's last phrase again, the student their own.
 */
export function Replay({ peer, name }: { peer: string | null; name: string }) {
  const { t } = useI18n();
  // When the replay ends (ms since the epoch), while one plays.
  const [until, setUntil] = useState<number | null>(null);
  const [error, setError] = useState<AppError | null>(null);

  useEffect(() => {
    if (until == null) return;
    const timer = setTimeout(() => setUntil(null), Math.max(0, until - Date.now()));
    return () => clearTimeout(timer);
  }, [until]);

  const play = (seconds: number) =>
    ok(commands.replay(peer, seconds)).then(
      (length) => {
        setError(null);
        setUntil(Date.now() + (length ?? 0) * 1000);
      },
      (e) => setError(asAppError(e)),
    );
  const stop = () =>
    ok(commands.replay(null, null)).then(
      () => setUntil(null),
      (e) => setError(asAppError(e)),
    );

  return (
    <div className="replay" role="group" aria-label={`${t("replayPart")}: ${name}`}>
      {until != null ? (
        <button className="small-button" onClick={() => void stop()}>
          {t("stopReplay")}
        </button>
      ) : (
        REPLAY_CHOICES.map((seconds) => (
          <button
            key={seconds}
            className="small-button"
            aria-label={t("replayLastSeconds").replace("{seconds}", String(seconds)).replace("{name}", name)}
            onClick={() => void play(seconds)}
          >
            ↺ {seconds} s
          </button>
        ))
      )}
      <ErrorLine error={error} />
    </div>
  );
}
