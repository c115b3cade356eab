import { useEffect, useState } from "react";
import { commands } from "../bindings";
import type { DuetView } from "../bindings";
import type { AppError, LessonView } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { ErrorLine } from "./ErrorLine";

/** How often the screen asks where leader–follower stands (the delays move slowly). */
const EVERY_MS = 500;
/** What "replay the last phrase" replays, seconds. */
export const REPLAY_SECONDS = 10;

const ms = (v: number | null | undefined) => (v == null ? "…" : `${Math.round(v)} ms`);

/**
 * Leader–follower playing, for the teacher: the student plays along with what they hear, and
 * the teacher hears the duet as the student played it — the student's part shifted back by how
 * late our sound reached them, live (our own part delayed to meet theirs) or as a replay of the
 * last phrase.
 */
export function Duet({ view }: { view: LessonView }) {
  const { t } = useI18n();
  const [duet, setDuet] = useState<DuetView | null>(null);
  const [on, setOn] = useState(false);
  const [error, setError] = useState<AppError | null>(null);

  useEffect(() => {
    if (!on) {
      setDuet(null);
      return;
    }
    let alive = true;
    const ask = () =>
      ok(commands.duet()).then(
        (d) => alive && setDuet(d),
        (e) => alive && setError(asAppError(e)),
      );
    void ask();
    const timer = setInterval(() => void ask(), EVERY_MS);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, [on]);

  const act = (p: Promise<unknown>, after?: () => void) =>
    p.then(
      () => {
        setError(null);
        after?.();
      },
      (e) => setError(asAppError(e)),
    );
  const follower = duet ? (view.others.find((o) => o.peer === duet.partner)?.name ?? duet.partner) : null;

  return (
    <section className="duet card" aria-label={t("leaderFollower")}>
      <h3>{t("leaderFollower")}</h3>
      <label>
        <input
          type="checkbox"
          checked={on}
          onChange={(e) => {
            const want = e.target.checked;
            void act(ok(commands.setLeaderFollower(want)), () => setOn(want));
          }}
        />{" "}
        {t("leadStudent")}
      </label>
      {on && duet && (
        <>
          <p data-testid="duet-delays">
            {follower} {t("follows")} · {t("hearsYouAfter")} {ms(duet.they_hear_after_ms)} ·{" "}
            {t("youHearAfter")} {ms(duet.we_hear_after_ms)} ·{" "}
            {duet.follow_metronome ? t("alignedToBeat") : `${t("shiftedBack")} ${ms(duet.shift_ms)}`}
          </p>
          <div className="row">
            {duet.replaying ? (
              <button onClick={() => void act(ok(commands.replayDuet(null)))}>{t("stopReplay")}</button>
            ) : (
              <button onClick={() => void act(ok(commands.replayDuet(REPLAY_SECONDS)))}>
                {t("replayAligned")}
              </button>
            )}
            <label>
              <input
                type="checkbox"
                checked={duet.live}
                onChange={(e) => void act(ok(commands.setDuetLive(e.target.checked)))}
              />{" "}
              {t("hearYourselfDelayed")} ({ms(duet.live_delay_ms)})
            </label>
          </div>
        </>
      )}
      <small className="muted">{t("leaderFollowerHelp")}</small>
      <ErrorLine error={error} />
    </section>
  );
}
