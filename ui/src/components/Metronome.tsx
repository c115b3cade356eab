import { useEffect, useRef, useState } from "react";
import { commands } from "../bindings";
import type { BeatView, MetronomeView } from "../bindings";
import type { AppError, LessonView } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { ErrorLine } from "./ErrorLine";

/** Where the beat is at `now` (ms, performance clock), from the last answer and when it came. */
export function beatAt(b: BeatView, askedAt: number, now: number) {
  const beatMs = b.beat_ms ?? 0;
  if (beatMs <= 0) return { beat: b.beat, countIn: b.count_in };
  const since = now - askedAt + (b.ms_into_beat ?? 0);
  const k = Math.max(0, Math.floor(since / beatMs));
  // Beats of the count-in still to come after the one that was sounding.
  const countInAfter = b.count_in ? b.count_in_left * b.beats + (b.beats - 1 - b.beat) : -1;
  return { beat: (b.beat + k) % Math.max(1, b.beats), countIn: b.count_in && k <= countInAfter };
}

/**
 * The metronome: the host sets it for everyone; everyone sees the beat and sets their own
 * volume. The clicks are made on each computer from the shared clock, not sent.
 */
export function Metronome({ view }: { view: LessonView }) {
  const { t } = useI18n();
  const running = view.metronome;
  const [bpm, setBpm] = useState(running?.bpm ?? 80);
  const [beats, setBeats] = useState(running?.beats ?? 4);
  const [countIn, setCountIn] = useState(running?.count_in_bars ?? 1);
  const [error, setError] = useState<AppError | null>(null);
  const [shown, setShown] = useState<{ beat: number; countIn: boolean } | null>(null);
  const last = useRef<{ b: BeatView; at: number } | null>(null);

  // Asks where the beat is every second; animates from that in between.
  useEffect(() => {
    if (!running) {
      last.current = null;
      setShown(null);
      return;
    }
    let alive = true;
    const ask = () =>
      void commands.metronomeBeat().then((r) => {
        if (alive && r.status === "ok") last.current = r.data ? { b: r.data, at: performance.now() } : null;
      });
    ask();
    const poll = setInterval(ask, 1000);
    let frame = 0;
    const draw = () => {
      const l = last.current;
      const next = l ? beatAt(l.b, l.at, performance.now()) : null;
      setShown((s) => (s?.beat === next?.beat && s?.countIn === next?.countIn ? s : next));
      frame = requestAnimationFrame(draw);
    };
    frame = requestAnimationFrame(draw);
    return () => {
      alive = false;
      clearInterval(poll);
      cancelAnimationFrame(frame);
    };
  }, [running]);

  const set = (m: MetronomeView | null) =>
    ok(commands.setMetronome(m)).then(
      () => setError(null),
      (e) => setError(asAppError(e)),
    );
  const bpmValid = Number.isFinite(bpm) && bpm >= 20 && bpm <= 300;

  return (
    <section className="metronome card" aria-label={t("metronome")}>
      <h3>
        {t("metronome")}{" "}
        {running ? (
          <span className="muted">
            ♩ = {running.bpm} · {running.beats}
          </span>
        ) : (
          <span className="muted">{t("metronomeOff")}</span>
        )}
      </h3>
      {running && (
        <div className="beats" role="status" aria-live="off" data-testid="metronome-beat">
          {Array.from({ length: running.beats }, (_, i) => (
            <span
              key={i}
              className={`beat${i === 0 ? " strong" : ""}${shown?.beat === i ? " on" : ""}`}
              aria-current={shown?.beat === i ? "true" : undefined}
            >
              {i + 1}
            </span>
          ))}
          {shown?.countIn && <em className="count-in">{t("countingIn")}</em>}
        </div>
      )}
      {view.host && (
        <form
          className="metronome-set"
          onSubmit={(e) => {
            e.preventDefault();
            if (bpmValid) void set({ bpm, beats, count_in_bars: countIn });
          }}
        >
          <label>
            {t("tempo")}
            <input
              type="number"
              min={20}
              max={300}
              step={1}
              value={Number.isFinite(bpm) ? bpm : ""}
              aria-invalid={!bpmValid}
              onChange={(e) => setBpm(e.target.valueAsNumber)}
            />{" "}
            {t("bpm")}
          </label>
          <label>
            {t("beatsPerBar")}
            <select value={beats} onChange={(e) => setBeats(Number(e.target.value))}>
              {[1, 2, 3, 4, 5, 6, 7, 8, 9, 12].map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t("countIn")}
            <select value={countIn} onChange={(e) => setCountIn(Number(e.target.value))}>
              {[0, 1, 2].map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" className="primary" disabled={!bpmValid}>
            {running ? t("updateMetronome") : t("startMetronome")}
          </button>
          {running && (
            <button type="button" onClick={() => void set(null)}>
              {t("stopMetronome")}
            </button>
          )}
        </form>
      )}
      {running && (
        <label className="metronome-volume">
          {t("metronomeVolume")}
          <input
            type="range"
            min={0}
            max={100}
            value={Math.round((view.metronome_volume ?? 1) * 100)}
            onChange={(e) =>
              void ok(commands.setMetronomeVolume(Number(e.target.value) / 100)).catch((err) =>
                setError(asAppError(err)),
              )
            }
          />
        </label>
      )}
      {view.host && !running && <small className="muted">{t("metronomeShared")}</small>}
      <ErrorLine error={error} />
    </section>
  );
}
