import { useEffect, useRef, useState } from "react";
import { commands } from "../bindings";
import type { AppError, LessonDetail, LessonSummary, SearchHitView } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { ErrorLine } from "../components/ErrorLine";
import { TwoTimes } from "./Home";
import { Take, span, usePlayer } from "../components/Take";
import type { RecordingView } from "../types";

export function History() {
  const { t, lang } = useI18n();
  const [lessons, setLessons] = useState<LessonSummary[]>([]);
  const [query, setQuery] = useState("");
  const [hits, setHits] = useState<SearchHitView[] | null>(null);
  const [detail, setDetail] = useState<LessonDetail | null>(null);
  const [exported, setExported] = useState<string | null>(null);
  const [error, setError] = useState<AppError | null>(null);
  const fail = (e: unknown) => setError(asAppError(e));

  useEffect(() => {
    ok(commands.lessons("past")).then(setLessons, fail);
  }, []);

  useEffect(() => {
    if (!query.trim()) return setHits(null);
    const timer = setTimeout(() => ok(commands.search(query)).then(setHits, fail), 250);
    return () => clearTimeout(timer);
  }, [query]);

  const openLesson = (id: number) => {
    setExported(null);
    ok(commands.lessonDetail(id)).then(setDetail, fail);
  };

  return (
    <div className="history">
      <div className="card list">
        <input
          type="search"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          placeholder={t("search")}
          aria-label={t("search")}
        />
        <ErrorLine error={error} />
        {hits ? (
          <ul className="hits">
            {hits.map((h, i) => (
              <li key={i}>
                <button className="link" onClick={() => openLesson(h.lesson)}>
                  <strong>{h.lesson_title}</strong> · {t(h.kind === "note" ? "notes" : "questions")}
                  <br />
                  <span className="snippet">{h.snippet}</span>
                </button>
              </li>
            ))}
            {hits.length === 0 && <li className="muted">{t("none")}</li>}
          </ul>
        ) : (
          <ul className="lessons">
            {lessons.length === 0 && <li className="muted">{t("none")}</li>}
            {lessons.map((l) => (
              <li key={l.id}>
                <button className="link" onClick={() => openLesson(l.id)} data-testid="past-lesson">
                  <strong>{l.title}</strong>{" "}
                  {l.status === "cancelled" && <em>({t("cancelled")})</em>}
                  <br />
                  <TwoTimes ms={l.start_ms} mine={l.host_tz} theirs={l.student_tz} lang={lang} />
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
      {detail && (
        <article className="card detail" data-testid="lesson-detail">
          <h2>{detail.lesson.title}</h2>
          <TwoTimes
            ms={detail.lesson.start_ms}
            mine={detail.lesson.host_tz}
            theirs={detail.lesson.student_tz}
            lang={lang}
          />
          <h3>{t("notes")}</h3>
          {detail.notes.length === 0 && <p className="muted">{t("none")}</p>}
          {detail.notes.map((n, i) => (
            <pre key={i} className="note">
              {n.body}
            </pre>
          ))}
          <h3>{t("questions")}</h3>
          {detail.questions.length === 0 && <p className="muted">{t("none")}</p>}
          <ul>
            {detail.questions.map((q, i) => (
              <li key={i}>
                {q.state === "answered" ? "✓ " : q.state === "dismissed" ? "✗ " : "• "}
                {q.text} <small className="muted">({q.author ?? t("anonymousName")}, ▲{q.votes})</small>
              </li>
            ))}
          </ul>
          {detail.chat.length > 0 && (
            <>
              <h3>{t("chat")}</h3>
              <ul>
                {detail.chat.map((m, i) => (
                  <li key={i}>
                    <strong>{m.from}</strong>: {m.text}
                  </li>
                ))}
              </ul>
            </>
          )}
          {detail.takes.length > 0 && (
            <>
              <h3>{t("recordings")}</h3>
              {detail.takes.map((take, i) => (
                <Take key={take.id} lessonId={detail.lesson.id} take={take} index={i} />
              ))}
            </>
          )}
          {detail.recordings.length > 0 && (
            <>
              <h3>{t("takesReceived")}</h3>
              <ul data-testid="received">
                {detail.recordings.map((r) => (
                  <li key={r.id}>
                    <strong>{r.who ?? t("recordingMix")}</strong>{" "}
                    <small className="muted">
                      {span(r.duration_ms)} · {r.path}
                    </small>{" "}
                    <Received file={r} />
                  </li>
                ))}
              </ul>
            </>
          )}
          <button onClick={() => ok(commands.exportLesson(detail.lesson.id)).then(setExported, fail)}>
            {t("export")}
          </button>
          {exported && (
            <p className="muted">
              {t("exportedTo")} {exported}
            </p>
          )}
        </article>
      )}
    </div>
  );
}

/** A take a student sent, played on demand. */
function Received({ file }: { file: RecordingView }) {
  const { t } = useI18n();
  const audio = useRef<HTMLAudioElement>(null);
  const player = usePlayer(audio, file);
  return (
    <>
      {!player.src && (
        <button onClick={() => player.playFrom(0)} disabled={player.loading}>
          {t("play")}
        </button>
      )}
      <audio ref={audio} controls hidden={!player.src} src={player.src ?? undefined} onLoadedMetadata={player.loaded} />
      <ErrorLine error={player.error} />
    </>
  );
}
