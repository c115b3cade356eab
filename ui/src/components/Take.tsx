import { useEffect, useRef, useState } from "react";
import { commands } from "../bindings";
import type { AppError, RecordingView, TakeView } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { ErrorLine } from "./ErrorLine";

/** Peaks drawn across the waveform. */
export const BUCKETS = 400;

/** A listed recording's bytes (raw over IPC: an ArrayBuffer, whatever the bindings say), as a
 * URL the player loads: WebKitGTK's player takes blob: URLs, not the app's own schemes. */
export async function recordingUrl(id: number, path: string): Promise<string> {
  const bytes = (await ok(commands.recordingFile(id))) as unknown;
  const data = bytes instanceof ArrayBuffer ? bytes : new Uint8Array(bytes as number[]);
  const type = path.endsWith(".opus") ? "audio/ogg; codecs=opus" : "audio/wav";
  return URL.createObjectURL(new Blob([data], { type }));
}

/** m:ss (h:mm:ss from an hour) of a length in milliseconds; under 10 s with tenths (0:00.4),
 * so that a short take does not read as empty. */
export function span(ms: number): string {
  if (ms < 10_000) return `0:0${(Math.max(0, Math.floor(ms / 100)) / 10).toFixed(1)}`;
  const s = Math.floor(ms / 1000);
  const mmss = `${Math.floor((s % 3600) / 60)}:${String(s % 60).padStart(2, "0")}`;
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mmss.padStart(5, "0")}` : mmss;
}

const ICONS = { mark: "★", note: "✎", question: "?" } as const;

/**
 * One recording of a lesson, played back: its waveform with the marks on it (a mark, a line of
 * the notes as it was typed, a question as it was asked), the player, and the marks listed;
 * clicking one, or a place on the waveform, plays from there.
 */
export function Take({ lessonId, take, index }: { lessonId: number; take: TakeView; index: number }) {
  const { t, lang } = useI18n();
  const audio = useRef<HTMLAudioElement>(null);
  const [peaks, setPeaks] = useState<number[] | null>(null);
  const [at, setAt] = useState(0);
  const length = Math.max(take.duration_ms, 1);

  useEffect(() => {
    let live = true;
    ok(commands.takeWaveform(lessonId, take.id, BUCKETS)).then(
      (p) => live && setPeaks(p.map((v) => v ?? 0)),
      () => live && setPeaks(null),
    );
    return () => {
      live = false;
    };
  }, [lessonId, take.id]);

  const playing = take.files.find((f) => f.id === take.play);
  const player = usePlayer(audio, playing);
  const playFrom = (ms: number) => {
    setAt(ms);
    player.playFrom(ms);
  };
  const x = (ms: number) => (Math.min(Math.max(ms, 0), length) / length) * BUCKETS;

  return (
    <section className="take" data-testid="take">
      <h4>
        {t("take")} {index + 1} ·{" "}
        {new Intl.DateTimeFormat(lang === "ko" ? "ko-KR" : "en-GB", {
          hour: "2-digit",
          minute: "2-digit",
          hourCycle: "h23",
        }).format(take.started_ms)}{" "}
        ·{" "}
        {span(take.duration_ms)}
      </h4>
      {playing && !player.src && (
        <button onClick={() => playFrom(0)} disabled={player.loading}>
          {t("play")}
        </button>
      )}
      {playing && (
        <audio
          ref={audio}
          controls
          hidden={!player.src}
          src={player.src ?? undefined}
          onLoadedMetadata={player.loaded}
          onTimeUpdate={(e) => setAt(e.currentTarget.currentTime * 1000)}
          data-testid="take-audio"
        />
      )}
      <ErrorLine error={player.error} />
      <svg
        className="waveform"
        viewBox={`0 0 ${BUCKETS} 100`}
        preserveAspectRatio="none"
        role="img"
        aria-label={t("waveform")}
        data-testid="waveform"
        onClick={(e) => {
          const box = e.currentTarget.getBoundingClientRect();
          if (box.width > 0) playFrom(((e.clientX - box.left) / box.width) * length);
        }}
      >
        {(peaks ?? []).map((p, i) => {
          const h = Math.max(p * 96, 0.8);
          return <rect key={i} className="peak" x={i} width={0.8} y={50 - h / 2} height={h} />;
        })}
        {take.marks.map((m, i) => (
          <line key={i} className={`mark ${m.kind}`} x1={x(m.at_ms)} x2={x(m.at_ms)} y1={0} y2={100} />
        ))}
        <line className="playhead" x1={x(at)} x2={x(at)} y1={0} y2={100} />
      </svg>
      {take.marks.length > 0 && (
        <ol className="marks" data-testid="marks">
          {take.marks.map((m, i) => (
            <li key={i}>
              <button className="link" onClick={() => playFrom(m.at_ms)} aria-label={`${t("playFrom")} ${span(m.at_ms)}`}>
                {span(m.at_ms)}
              </button>{" "}
              <span aria-hidden="true">{ICONS[m.kind]}</span> {m.text || t(m.kind === "mark" ? "markWord" : "askedAloud")}
            </li>
          ))}
        </ol>
      )}
      <ul className="files" data-testid="recordings">
        {take.files.map((r) => (
          <li key={r.id}>
            <strong>{r.who ?? t("recordingMix")}</strong>{" "}
            <small className="muted">
              {span(r.duration_ms)} · {r.path}
            </small>
          </li>
        ))}
      </ul>
    </section>
  );
}

/**
 * A recording played on demand: its file fetched at the first Play (an hour's mix is 43 MB,
 * not to be loaded for every take on the screen), then played from where asked.
 */
export function usePlayer(audio: React.RefObject<HTMLAudioElement | null>, file: RecordingView | undefined) {
  const [src, setSrc] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<AppError | null>(null);
  const pending = useRef<number | null>(null);

  useEffect(
    () => () => {
      if (src) URL.revokeObjectURL(src);
    },
    [src],
  );

  const start = (a: HTMLAudioElement, ms: number) => {
    a.currentTime = ms / 1000;
    void a.play()?.catch(() => {});
  };

  return {
    src,
    loading,
    error,
    playFrom(ms: number) {
      const a = audio.current;
      if (src && a) return start(a, ms);
      pending.current = ms;
      if (loading || !file) return;
      setLoading(true);
      recordingUrl(file.id, file.path).then(
        (url) => {
          setError(null);
          setSrc(url);
        },
        (e) => setError(asAppError(e)),
      ).finally(() => setLoading(false));
    },
    /** The file is loaded: play from where the first Play or mark asked. */
    loaded() {
      const a = audio.current;
      if (a && pending.current != null) start(a, pending.current);
      pending.current = null;
    },
  };
}
