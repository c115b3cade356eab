import { useEffect, useState } from "react";
import { commands, events } from "../bindings";
import type { AppError, LessonView, ParticipantView, PeerStatsView } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { ErrorLine } from "../components/ErrorLine";
import { VideoCanvas } from "../components/VideoCanvas";
import { SidePanel } from "../components/SidePanel";
import { LevelMeter } from "../components/LevelMeter";
import { Metronome } from "../components/Metronome";
import { TeacherCard } from "../components/TeacherCard";
import { Tuner } from "../components/Tuner";
import { Mixer } from "../components/Mixer";
import { Duet } from "../components/Duet";
import { Replay } from "../components/Replay";
import { Recording } from "../components/Recording";

export function Lesson(props: {
  view: LessonView;
  /** We are out of the lesson (`error`: ending it was not confirmed by the room server). */
  onLeft: (ended: boolean, error?: AppError) => void;
}) {
  const { view, onLeft } = props;
  const { t } = useI18n();
  const [stats, setStats] = useState<Record<string, PeerStatsView>>({});
  const [levels, setLevels] = useState<{ send: number; peers: Record<string, number> }>({
    send: 0,
    peers: {},
  });
  const [error, setError] = useState<AppError | null>(null);
  const [tuner, setTuner] = useState(false);
  const [mixer, setMixer] = useState(false);
  const act = (p: Promise<unknown>) => p.catch((e) => setError(asAppError(e)));

  useEffect(() => {
    const unlisten = events.lessonStats.listen((e) =>
      setStats(Object.fromEntries(e.payload.peers.map((p) => [p.peer, p]))),
    );
    return () => void unlisten.then((f) => f());
  }, []);

  useEffect(() => {
    const unlisten = events.lessonLevels.listen((e) =>
      setLevels({
        send: e.payload.send ?? 0,
        peers: Object.fromEntries(e.payload.peers.map((p) => [p.peer, p.level ?? 0])),
      }),
    );
    return () => void unlisten.then((f) => f());
  }, []);

  // Someone whose connection dropped keeps their place (the room server holds it, the media
  // link is rebuilt); they are shown as reconnecting rather than gone.
  const others = view.others;
  return (
    <div className="lesson">
      <div className="stage">
        <header className="lesson-head">
          <h1>{view.title}</h1>
          {view.host && <InviteCode code={view.code} shareUrls={view.share_urls} />}
          {!view.host && view.teacher && <TeacherCard server={view.server_url} id={view.teacher} />}
        </header>
        {view.problems.map((p, i) => (
          <ErrorLine key={i} error={p} />
        ))}
        {!view.host && !view.you.mic && (
          <p className="notice" role="status" data-testid="mic-taken">
            {view.you.role === "observer" ? t("listeningOnly") : t("mutedByHost")}
          </p>
        )}
        {view.host && view.waiting.length > 0 && (
          <section className="waiting card" aria-label={t("waiting")}>
            <h3>{t("waiting")}</h3>
            <ul>
              {view.waiting.map((k) => (
                <li key={k.peer}>
                  <span>
                    {k.name} {k.observer && <em>({t("observer")})</em>}
                  </span>
                  <button className="primary" onClick={() => act(ok(commands.admit(k.peer)))}>
                    {t("admit")}
                  </button>
                  <button onClick={() => act(ok(commands.deny(k.peer)))}>{t("deny")}</button>
                </li>
              ))}
            </ul>
          </section>
        )}
        <div className="videos">
          {others.length === 0 && <p className="muted center">{t("nobodyYet")}</p>}
          {others.map((p) => (
            <div key={p.peer} className="remote">
              <VideoCanvas peer={p.peer} label={p.name} />
              <LevelMeter level={levels.peers[p.peer] ?? 0} label={`${t("theirLevel")} ${p.name}`} />
              {!p.connected || p.link === "failed" || p.link === "disconnected" ? (
                <span className="conn bad" role="status">
                  {t("reconnecting")}
                </span>
              ) : (
                <Connection who={p} stats={stats[p.peer]} />
              )}
              <Replay peer={p.peer} name={p.name} />
              {view.host && (
                <button
                  className="small-button"
                  onClick={() => act(ok(commands.removeParticipant(p.peer)))}
                >
                  {t("remove")}
                </button>
              )}
            </div>
          ))}
          <div className="own">
            <VideoCanvas peer="" label={t("you")} small />
            <LevelMeter level={levels.send} label={t("yourLevel")} />
            <Replay peer={null} name={t("yourPart")} />
          </div>
        </div>
        {(view.host || view.metronome) && <Metronome view={view} />}
        {tuner && <Tuner view={view} />}
        {mixer && others.length > 0 && <Mixer view={view} levels={levels.peers} stats={stats} />}
        {view.host && view.others.some((o) => o.role === "student") && <Duet view={view} />}
        <Recording view={view} />
        <ErrorLine error={error} />
        <div className="controls">
          <button
            aria-pressed={view.muted}
            onClick={() => act(ok(commands.setMuted(!view.muted)))}
          >
            {view.muted ? t("unmute") : t("mute")}
          </button>
          {view.camera !== "no_camera" && (
            <button onClick={() => act(ok(commands.setCamera(view.camera !== "on")))}>
              {view.camera === "on" ? t("cameraOff") : t("cameraOn")}
            </button>
          )}
          <button aria-pressed={tuner} onClick={() => setTuner(!tuner)}>
            {t("tuner")}
          </button>
          <button aria-pressed={mixer} onClick={() => setMixer(!mixer)}>
            {t("mixer")}
          </button>
          <button onClick={() => act(ok(commands.leaveLesson(false)).then(() => onLeft(false)))}>
            {t("leave")}
          </button>
          {view.host && (
            <button
              className="danger"
              onClick={() =>
                window.confirm(t("endConfirm")) &&
                // Out of the lesson either way; an unconfirmed end is said on the home screen.
                ok(commands.leaveLesson(true)).then(
                  () => onLeft(true),
                  (e) => onLeft(true, asAppError(e)),
                )
              }
            >
              {t("endLesson")}
            </button>
          )}
        </div>
      </div>
      <SidePanel view={view} />
    </div>
  );
}

function InviteCode({ code, shareUrls }: { code: string; shareUrls: string[] }) {
  const { t } = useI18n();
  const [copied, setCopied] = useState(false);
  return (
    <div className="invite">
      <span className="muted">{t("code")}</span>
      <output className="invite-code" data-testid="invite-code">
        {code}
      </output>
      <button
        onClick={() =>
          void navigator.clipboard.writeText(code).then(() => {
            setCopied(true);
            setTimeout(() => setCopied(false), 1500);
          })
        }
      >
        {copied ? t("copied") : t("copy")}
      </button>
      {shareUrls.length > 0 && (
        <small className="muted">
          {t("shareAt")} {shareUrls.join(" · ")}
        </small>
      )}
    </div>
  );
}

/** How the link to one participant is doing: green under 30 ms one way, red past 60 ms or 3 % loss. */
export function Connection({ who, stats }: { who: ParticipantView; stats?: PeerStatsView }) {
  const { t } = useI18n();
  if (!stats || stats.one_way_ms === null) {
    return <span className="conn muted">{t("connecting")}</span>;
  }
  // Measured sample for sample once known; estimated before.
  const measured = stats.heard_after_ms ?? null;
  const ms = measured ?? stats.one_way_ms;
  const loss = stats.loss_pct ?? 0;
  const quality = ms > 60 || loss > 3 ? "bad" : ms > 30 || loss > 1 ? "fair" : "good";
  return (
    <span className={`conn ${quality}`} data-testid={`conn-${who.peer}`}>
      ● {t("oneWay")} {Math.round(ms)} ms
      {measured != null
        ? ` (${t("measured")})`
        : stats.devices_ms != null && ` (${t("soundCards")} ${Math.round(stats.devices_ms)} ms)`}{" "}
      ·{" "}
      {t("buffer")} {Math.round(stats.buffer_ms ?? 0)} ms
      {loss > 0 && ` · ${t("loss")} ${loss.toFixed(1)} %`}
      {(stats.concealed_pct ?? 0) >= 0.1 &&
        ` · ${t("repaired")} ${(stats.concealed_pct ?? 0).toFixed(1)} %`}
      {stats.path === "relayed" && <RelayMark over={stats.relay_over} />}
      {stats.clock_uncertainty_ms != null &&
        ` · ${t("clockSync")} ±${Math.max(0.1, stats.clock_uncertainty_ms).toFixed(1)} ms`}
    </span>
  );
}

/** The relay, and how it is reached when that is not UDP (a firewall let only TCP or TLS). */
function RelayMark({ over }: { over: PeerStatsView["relay_over"] }) {
  const { t } = useI18n();
  const how = over == null || over === "udp" ? "UDP" : over.toUpperCase();
  return (
    <span data-testid="relay-mark" title={t("relayedOver").replace("{how}", how)}>
      {" · TURN"}
      {over === "tcp" || over === "tls" ? ` (${how})` : ""}
    </span>
  );
}
