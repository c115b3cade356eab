import { useEffect, useState } from "react";
import { commands } from "../bindings";
import type { PitchView } from "../bindings";
import type { AppError, LessonView } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { ErrorLine } from "./ErrorLine";

/** How often the tuner asks: ten times a second (its reading is 43 ms of sound). */
const EVERY_MS = 100;
/** Shown: the median of the last readings, so that one whose sound held a glitch (a repaired
 * packet) does not make the needle jump. */
const SMOOTH = 5;

/** Per participant, the median of their last few readings (none once they stop sounding). */
export function smooth(history: PitchView[][], peer: string): PitchView | undefined {
  const recent = history.slice(-SMOOTH).map((h) => h.find((p) => p.peer === peer));
  if (!recent.at(-1)) return undefined;
  const heard = recent.filter((p): p is PitchView => p !== undefined);
  const byCents = [...heard].sort((a, b) => (a.hz ?? 0) - (b.hz ?? 0));
  return byCents[Math.floor(byCents.length / 2)];
}

/** The tuner: one's own pitch and each participant's, as note and cents, against a reference A. */
export function Tuner({ view }: { view: LessonView }) {
  const { t } = useI18n();
  const [reference, setReference] = useState(440);
  const [history, setHistory] = useState<PitchView[][]>([]);
  const [error, setError] = useState<AppError | null>(null);
  const valid = Number.isFinite(reference) && reference >= 415 && reference <= 466;

  useEffect(() => {
    if (!valid) return;
    // Readings against another reference A are not comparable.
    setHistory([]);
    let alive = true;
    const ask = () =>
      ok(commands.tuner(reference)).then(
        (p) => {
          if (alive) {
            setHistory((h) => [...h.slice(-(SMOOTH - 1)), p]);
            setError(null);
          }
        },
        (e) => alive && setError(asAppError(e)),
      );
    void ask();
    const timer = setInterval(() => void ask(), EVERY_MS);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, [reference, valid]);

  const name = (peer: string) =>
    peer === "" ? t("you") : (view.others.find((o) => o.peer === peer)?.name ?? peer);
  const rows = [{ peer: "", name: t("you") }, ...view.others.map((o) => ({ peer: o.peer, name: o.name }))];
  return (
    <section className="tuner card" aria-label={t("tuner")}>
      <h3>{t("tuner")}</h3>
      <label>
        {t("referenceA")}{" "}
        <input
          type="number"
          min={415}
          max={466}
          step={1}
          value={Number.isFinite(reference) ? reference : ""}
          aria-invalid={!valid}
          onChange={(e) => setReference(e.target.valueAsNumber)}
        />{" "}
        Hz
      </label>
      <ul>
        {rows.map((r) => {
          const p = smooth(history, r.peer);
          const cents = p?.cents ?? 0;
          return (
            <li key={r.peer} data-testid={`pitch-${r.peer || "you"}`}>
              <span className="who">{name(r.peer)}</span>
              {p ? (
                <>
                  <strong className="note">
                    {p.note}
                    <sub>{p.octave}</sub>
                  </strong>
                  <span className={`cents ${Math.abs(cents) <= 5 ? "good" : Math.abs(cents) <= 15 ? "fair" : "bad"}`}>
                    {cents >= 0 ? "+" : "−"}
                    {Math.abs(Math.round(cents))}¢
                  </span>
                  <span className="needle" aria-hidden="true">
                    <span style={{ left: `${50 + cents}%` }} />
                  </span>
                </>
              ) : (
                <span className="muted">{t("noPitch")}</span>
              )}
            </li>
          );
        })}
      </ul>
      <ErrorLine error={error} />
    </section>
  );
}
