import { useRef, useState } from "react";
import { commands } from "../bindings";
import type { AppError, FaderView, LessonView, PeerStatsView } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { ErrorLine } from "./ErrorLine";
import { LevelMeter } from "./LevelMeter";

const UNITY: FaderView = { volume: 1, pan: 0, muted: false };

/** Our own mix of the lesson: per participant a level, the delay to them, volume, pan and
 * mute for us alone; the host can also take someone's microphone for everyone. */
export function Mixer(props: {
  view: LessonView;
  levels: Record<string, number>;
  stats: Record<string, PeerStatsView>;
}) {
  const { view, levels, stats } = props;
  const { t } = useI18n();
  const [error, setError] = useState<AppError | null>(null);
  // What was last set here, ahead of the view that confirms it: a second control moved before
  // the first change came back must not send the first one's old value.
  const sent = useRef<Record<string, FaderView>>({});
  const [, redraw] = useState(0);
  const faderOf = (peer: string) =>
    sent.current[peer] ?? view.mix.find((m) => m.peer === peer)?.fader ?? UNITY;
  const set = (peer: string, change: Partial<FaderView>) => {
    const before = sent.current[peer];
    const next = { ...faderOf(peer), ...change };
    sent.current[peer] = next;
    redraw((n) => n + 1);
    ok(commands.setFader(peer, next)).then(
      () => setError(null),
      (e) => {
        // Refused: back to what was in force.
        if (sent.current[peer] === next) {
          if (before) sent.current[peer] = before;
          else delete sent.current[peer];
          redraw((n) => n + 1);
        }
        setError(asAppError(e));
      },
    );
  };
  return (
    <section className="mixer card" aria-label={t("mixer")}>
      <h3>{t("mixer")}</h3>
      <table>
        <tbody>
          {view.others.map((p) => {
            const f = faderOf(p.peer);
            const volume = f.volume ?? 1;
            const pan = f.pan ?? 0;
            const s = stats[p.peer];
            // Measured sample for sample once their stream is anchored, estimated before.
            const measured = s?.heard_after_ms ?? null;
            const delay = measured ?? s?.one_way_ms ?? null;
            return (
              <tr key={p.peer} data-testid={`strip-${p.peer}`}>
                <th scope="row">{p.name}</th>
                <td className="strip-meter">
                  <LevelMeter level={levels[p.peer] ?? 0} label={`${t("theirLevel")} ${p.name}`} />
                </td>
                <td className="strip-delay" title={t("delayToYou")}>
                  {delay == null ? "—" : `${measured == null ? "≈" : ""}${Math.round(delay)} ms`}
                </td>
                <Percent
                  label={t("volume")}
                  who={p.name}
                  value={volume}
                  min={0}
                  max={200}
                  step={5}
                  shown={`${Math.round(volume * 100)} %`}
                  onChange={(v) => set(p.peer, { volume: v })}
                />
                <Percent
                  label={t("pan")}
                  who={p.name}
                  value={pan}
                  min={-100}
                  max={100}
                  step={10}
                  shown={panLabel(pan, t("left"), t("right"))}
                  onChange={(v) => set(p.peer, { pan: v })}
                  onReset={() => set(p.peer, { pan: 0 })}
                />
                <td>
                  <button aria-pressed={f.muted} onClick={() => set(p.peer, { muted: !f.muted })}>
                    {f.muted ? t("hearAgain") : t("muteForMe")}
                  </button>
                </td>
                {view.host && (
                  <td>
                    <button
                      aria-pressed={!p.mic}
                      onClick={() => act(commands.setMic(p.peer, !p.mic))}
                      title={t("muteForAllHint")}
                    >
                      {p.mic ? t("muteForAll") : p.role === "observer" ? t("giveMic") : t("giveMicBack")}
                    </button>
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
      <ErrorLine error={error} />
    </section>
  );

  function act(p: ReturnType<typeof commands.setMic>) {
    ok(p).then(
      () => setError(null),
      (e) => setError(asAppError(e)),
    );
  }
}

/** A strip's slider cell: `value` as a fraction, moved in percent steps. */
function Percent(props: {
  label: string;
  who: string;
  value: number;
  min: number;
  max: number;
  step: number;
  shown: string;
  onChange: (v: number) => void;
  onReset?: () => void;
}) {
  return (
    <td>
      <label>
        {props.label}{" "}
        <input
          type="range"
          min={props.min}
          max={props.max}
          step={props.step}
          value={Math.round(props.value * 100)}
          aria-label={`${props.label} ${props.who}`}
          onChange={(e) => props.onChange(Number(e.target.value) / 100)}
          onDoubleClick={props.onReset}
        />
        <output>{props.shown}</output>
      </label>
    </td>
  );
}

/** "C", or how far to one side: "L 40", "R 100". */
export function panLabel(pan: number, left: string, right: string): string {
  const v = Math.round(pan * 100);
  if (v === 0) return "C";
  return v < 0 ? `${left} ${-v}` : `${right} ${v}`;
}
