import { useCallback, useEffect, useState } from "react";
import { commands, LIMITS } from "../bindings";
import type { AppError, LessonSummary, Settings } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { cityOf, formatIn, zonedToMs } from "../time";
import { ErrorLine } from "../components/ErrorLine";
import { InviteCard } from "../components/InviteCard";
import type { Pending } from "./DeviceCheck";

export function Home(props: {
  settings: Settings;
  /** What was being started (after a wrong code or a refusal, it is still filled in). */
  last: Pending | null;
  onStart: (p: Pending) => void;
  onHistory: () => void;
}) {
  const { settings, onStart, last } = props;
  const { t, lang } = useI18n();
  const [title, setTitle] = useState(last?.kind === "host" ? last.title : "");
  const [code, setCode] = useState(last?.kind === "join" ? last.code : "");
  const [server, setServer] = useState(last?.kind === "join" ? last.server : settings.server_url);
  const [upcoming, setUpcoming] = useState<LessonSummary[]>([]);
  const [past, setPast] = useState<LessonSummary[]>([]);
  const [error, setError] = useState<AppError | null>(null);
  // A lesson the room server could not be told about: it may be cancelled here only.
  const [notCancelled, setNotCancelled] = useState<number | null>(null);

  const cancel = (id: number, hereOnly: boolean) => {
    setError(null);
    setNotCancelled(null);
    ok(commands.cancelScheduled(id, hereOnly)).then(refresh, (e) => {
      const err = asAppError(e);
      setError(err);
      if (err.code === "not_cancelled") setNotCancelled(id);
    });
  };

  const refresh = useCallback(() => {
    ok(commands.lessons("upcoming")).then(setUpcoming, (e) => setError(asAppError(e)));
    ok(commands.lessons("past")).then((l) => setPast(l.slice(0, 5)), (e) => setError(asAppError(e)));
  }, []);
  useEffect(refresh, [refresh]);

  return (
    <div className="home">
      <section className="card">
        <h2>{t("hostNow")}</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            onStart({ kind: "host", title: title.trim() || t("defaultTitle") });
          }}
        >
          <label>
            {t("lessonTitle")}
            <input value={title} onChange={(e) => setTitle(e.target.value)} maxLength={LIMITS.title_chars} />
          </label>
          <button type="submit" className="primary">
            {t("host")}
          </button>
        </form>
      </section>

      <section className="card">
        <h2>{t("join")}</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            onStart({ kind: "join", code: code.trim(), server: server.trim() });
          }}
        >
          <label>
            {t("inviteCode")}
            <input
              className="code-input"
              value={code}
              onChange={(e) => setCode(e.target.value)}
              placeholder={t("codeHint")}
              autoCapitalize="characters"
              spellCheck={false}
            />
          </label>
          <label>
            {t("roomServer")}
            <input value={server} onChange={(e) => setServer(e.target.value)} spellCheck={false} />
          </label>
          <InviteCard code={code} server={server} />
          <button type="submit" className="primary" disabled={code.trim().length === 0}>
            {t("joinIt")}
          </button>
        </form>
      </section>

      <Schedule onScheduled={refresh} />

      <section className="card wide">
        <h2>{t("upcoming")}</h2>
        <ErrorLine error={error} />
        {upcoming.length === 0 && <p className="muted">{t("none")}</p>}
        <ul className="lessons">
          {upcoming.map((l) => (
            <li key={l.id}>
              <strong>{l.title}</strong>
              <TwoTimes ms={l.start_ms} mine={l.host_tz} theirs={l.student_tz} lang={lang} />
              {l.invite_code && <code>{l.invite_code}</code>}
              {l.host && (
                <span className="actions">
                  <button className="primary" onClick={() => onStart({ kind: "start", id: l.id })}>
                    {t("start")}
                  </button>
                  <button onClick={() => cancel(l.id, false)}>{t("cancelLesson")}</button>
                  {notCancelled === l.id && (
                    <button onClick={() => cancel(l.id, true)}>{t("cancelHereOnly")}</button>
                  )}
                </span>
              )}
            </li>
          ))}
        </ul>
      </section>

      {past.length > 0 && (
        <section className="card wide">
          <h2>{t("recentLessons")}</h2>
          <ul className="lessons">
            {past.map((l) => (
              <li key={l.id}>
                <strong>{l.title}</strong>
                <TwoTimes ms={l.start_ms} mine={l.host_tz} theirs={l.student_tz} lang={lang} />
              </li>
            ))}
          </ul>
          <button className="link" onClick={props.onHistory}>
            {t("allLessons")} →
          </button>
        </section>
      )}
    </div>
  );
}

export function TwoTimes(props: { ms: number; mine: string; theirs: string | null; lang: string }) {
  const { t } = useI18n();
  return (
    <span className="times">
      <span>
        {cityOf(props.mine)} {formatIn(props.ms, props.mine, props.lang)}
      </span>
      {props.theirs && props.theirs !== props.mine && (
        <span title={t("theirTime")}>
          {" · "}
          {cityOf(props.theirs)} {formatIn(props.ms, props.theirs, props.lang)}
        </span>
      )}
    </span>
  );
}

function Schedule({ onScheduled }: { onScheduled: () => void }) {
  const { t, lang } = useI18n();
  const [zones, setZones] = useState<{ local: string; all: string[] } | null>(null);
  const [title, setTitle] = useState("");
  const [when, setWhen] = useState("");
  const [minutes, setMinutes] = useState(60);
  const [studentTz, setStudentTz] = useState("");
  const [error, setError] = useState<AppError | null>(null);

  useEffect(() => {
    void commands.timeZones().then((z) => {
      // This computer's zone is offered even when it is not a city (e.g. UTC).
      setZones(z.all.includes(z.local) ? z : { ...z, all: [z.local, ...z.all] });
      setStudentTz(z.local);
    });
  }, []);

  if (!zones) return null;
  const startMs = when ? zonedToMs(when, zones.local) : null;

  return (
    <section className="card">
      <h2>{t("schedule")}</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (startMs === null) return;
          setError(null);
          ok(
            commands.scheduleLesson({
              title: title.trim() || t("defaultTitle"),
              start_ms: startMs,
              minutes,
              student_tz: studentTz || null,
            }),
          ).then(
            () => {
              setTitle("");
              setWhen("");
              onScheduled();
            },
            (e) => setError(asAppError(e)),
          );
        }}
      >
        <label>
          {t("lessonTitle")}
          <input value={title} onChange={(e) => setTitle(e.target.value)} maxLength={LIMITS.title_chars} />
        </label>
        <label>
          {t("date")} ({cityOf(zones.local)})
          <input type="datetime-local" value={when} onChange={(e) => setWhen(e.target.value)} required />
        </label>
        <label>
          {t("minutes")}
          <input
            type="number"
            min={5}
            max={600}
            value={minutes}
            onChange={(e) => setMinutes(Number(e.target.value))}
          />
        </label>
        <label>
          {t("studentZone")}
          <select value={studentTz} onChange={(e) => setStudentTz(e.target.value)}>
            {zones.all.map((z) => (
              <option key={z} value={z}>
                {z}
              </option>
            ))}
          </select>
        </label>
        {startMs !== null && (
          <p className="both-times" data-testid="both-times">
            {t("yourTime")}: {formatIn(startMs, zones.local, lang)} ({cityOf(zones.local)})
            <br />
            {t("theirTime")}: {formatIn(startMs, studentTz || zones.local, lang)} (
            {cityOf(studentTz || zones.local)})
          </p>
        )}
        <ErrorLine error={error} />
        <button type="submit" disabled={startMs === null}>
          {t("scheduleIt")}
        </button>
      </form>
    </section>
  );
}
