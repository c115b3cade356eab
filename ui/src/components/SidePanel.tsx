import { useEffect, useRef, useState } from "react";
import { commands, LIMITS } from "../bindings";
import type { AppError, LessonView, QuestionView } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { ErrorLine } from "./ErrorLine";

type Tab = "questions" | "chat" | "notes";

export function SidePanel({ view }: { view: LessonView }) {
  const { t } = useI18n();
  const [tab, setTab] = useState<Tab>("questions");
  const open = view.questions.filter((q) => q.state === "open").length;
  return (
    <aside className="side">
      <div className="tabs" role="tablist">
        {(["questions", "chat", "notes"] as const).map((name) => (
          <button
            key={name}
            role="tab"
            aria-selected={tab === name}
            className={tab === name ? "active" : ""}
            onClick={() => setTab(name)}
          >
            {t(name)}
            {name === "questions" && open > 0 && <span className="badge">{open}</span>}
          </button>
        ))}
      </div>
      {/* All three stay mounted: a half-typed question or note survives a look at the chat. */}
      <div className="panel" hidden={tab !== "questions"}>
        <Questions view={view} />
      </div>
      <div className="panel" hidden={tab !== "chat"}>
        <Chat view={view} />
      </div>
      <div className="panel" hidden={tab !== "notes"}>
        <Notes lessonId={view.local_id} initial={view.note} />
      </div>
    </aside>
  );
}

type Order = "votes" | "newest";

/** Pinned first, then by votes (ties: older first, it waited longer) or newest. */
export function sortQuestions(qs: QuestionView[], order: Order): QuestionView[] {
  return [...qs].sort(
    (a, b) =>
      Number(b.pinned) - Number(a.pinned) ||
      (order === "votes" ? b.votes - a.votes || a.asked_ms - b.asked_ms : b.asked_ms - a.asked_ms),
  );
}

export function Questions({ view }: { view: LessonView }) {
  const { t } = useI18n();
  const [show, setShow] = useState<"open" | "done">("open");
  const [order, setOrder] = useState<Order>("votes");
  const [text, setText] = useState("");
  const [voice, setVoice] = useState(false);
  const [anonymous, setAnonymous] = useState(false);
  const [error, setError] = useState<AppError | null>(null);
  const act = (p: Promise<unknown>) => p.catch((e) => setError(asAppError(e)));

  const shown = sortQuestions(
    view.questions.filter((q) => (show === "open") === (q.state === "open")),
    order,
  );
  const peers = new Map(view.others.map((p) => [p.peer, p]));

  return (
    <div className="questions">
      <form
        className="ask"
        onSubmit={(e) => {
          e.preventDefault();
          if (!text.trim() && !voice) return;
          setError(null);
          ok(commands.askQuestion(text.trim(), voice, anonymous)).then(
            () => {
              setText("");
              setVoice(false);
            },
            (e) => setError(asAppError(e)),
          );
        }}
      >
        <textarea
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder={t("askPlaceholder")}
          maxLength={LIMITS.question_chars}
          rows={2}
        />
        <div className="row">
          {!view.host && (
            <label className="check">
              <input type="checkbox" checked={voice} onChange={(e) => setVoice(e.target.checked)} />
              {t("voice")}
            </label>
          )}
          <label className="check">
            <input
              type="checkbox"
              checked={anonymous}
              onChange={(e) => setAnonymous(e.target.checked)}
            />
            {t("anonymous")}
          </label>
          <button type="submit" className="primary">
            {t("ask")}
          </button>
        </div>
      </form>
      <ErrorLine error={error} />
      <div className="row filters">
        <button className={show === "open" ? "active" : ""} onClick={() => setShow("open")}>
          {t("open")}
        </button>
        <button className={show === "done" ? "active" : ""} onClick={() => setShow("done")}>
          {t("answered")}
        </button>
        <select value={order} onChange={(e) => setOrder(e.target.value as Order)} aria-label="order">
          <option value="votes">{t("mostVoted")}</option>
          <option value="newest">{t("newest")}</option>
        </select>
      </div>
      {shown.length === 0 && <p className="muted">{t("noQuestions")}</p>}
      <ul className="question-list">
        {shown.map((q) => {
          const author = q.author_peer ? peers.get(q.author_peer) : undefined;
          return (
            <li key={q.id} className={`question ${q.state}`} data-testid="question">
              <button
                className={q.voted ? "vote voted" : "vote"}
                aria-label={t("upvote")}
                aria-pressed={q.voted}
                onClick={() => act(ok(commands.vote(q.id, !q.voted)))}
              >
                ▲ {q.votes}
              </button>
              <div className="body">
                <p>
                  {q.voice && <span className="tag">{t("voice")}</span>}
                  {q.text || <em>{t("voice")}</em>}
                </p>
                <small className="muted">
                  {q.author ?? t("anonymousName")}
                  {q.pre_lesson && ` · ${t("beforeLesson")}`}
                  {q.pinned && ` · ${t("pinned")}`}
                  {q.state === "dismissed" && ` · ${t("dismissed")}`}
                </small>
                {view.host && (
                  <div className="row host-actions">
                    {q.state === "open" ? (
                      <>
                        <button onClick={() => act(ok(commands.setQuestionState(q.id, "answered")))}>
                          ✓ {t("markAnswered")}
                        </button>
                        <button onClick={() => act(ok(commands.setQuestionState(q.id, "dismissed")))}>
                          {t("dismiss")}
                        </button>
                        <button onClick={() => act(ok(commands.pinQuestion(q.id, !q.pinned)))}>
                          {q.pinned ? t("unpin") : t("pin")}
                        </button>
                      </>
                    ) : (
                      <button onClick={() => act(ok(commands.setQuestionState(q.id, "open")))}>
                        {t("reopen")}
                      </button>
                    )}
                    {q.voice && author && (
                      <button onClick={() => act(ok(commands.setMic(author.peer, !author.mic)))}>
                        {author.mic ? t("revokeMic") : t("grantMic")}
                      </button>
                    )}
                  </div>
                )}
              </div>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

function Chat({ view }: { view: LessonView }) {
  const { t, lang } = useI18n();
  const [text, setText] = useState("");
  const [error, setError] = useState<AppError | null>(null);
  const end = useRef<HTMLLIElement>(null);
  useEffect(() => end.current?.scrollIntoView?.({ block: "end" }), [view.chat.length]);
  const time = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });
  return (
    <div className="chat">
      <ul>
        {view.chat.map((m, i) => (
          <li key={i} className={m.mine ? "mine" : ""}>
            <small className="muted">
              {m.from} · {time.format(new Date(m.at_ms))}
            </small>
            <p>{m.text}</p>
          </li>
        ))}
        <li ref={end} aria-hidden />
      </ul>
      <ErrorLine error={error} />
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (!text.trim()) return;
          ok(commands.sendChat(text.trim())).then(
            () => setText(""),
            (e) => setError(asAppError(e)),
          );
        }}
      >
        <input
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder={t("chatPlaceholder")}
          maxLength={LIMITS.chat_chars}
        />
        <button type="submit">{t("send")}</button>
      </form>
    </div>
  );
}

const SAVE_AFTER_MS = 800;

/** The lesson notes, saved a moment after typing stops (and when the panel closes). */
export function Notes({ lessonId, initial }: { lessonId: number; initial: string }) {
  const { t } = useI18n();
  const [body, setBody] = useState(initial);
  const [state, setState] = useState<"saved" | "saving" | "dirty">("saved");
  const [error, setError] = useState<AppError | null>(null);
  const latest = useRef({ body: initial, dirty: false });

  const save = () => {
    if (!latest.current.dirty) return;
    latest.current.dirty = false;
    setState("saving");
    ok(commands.saveNote(lessonId, latest.current.body)).then(
      () => setState((s) => (s === "saving" ? "saved" : s)),
      (e) => {
        latest.current.dirty = true;
        setState("dirty");
        setError(asAppError(e));
      },
    );
  };

  useEffect(() => {
    if (state !== "dirty") return;
    const timer = setTimeout(save, SAVE_AFTER_MS);
    return () => clearTimeout(timer);
  }, [body, state]);

  // Whatever is typed when the panel goes away is saved too.
  useEffect(() => () => save(), []);

  return (
    <div className="notes">
      <textarea
        value={body}
        placeholder={t("notesPlaceholder")}
        maxLength={LIMITS.note_chars}
        onChange={(e) => {
          setBody(e.target.value);
          latest.current = { body: e.target.value, dirty: true };
          setError(null);
          setState("dirty");
        }}
        onBlur={save}
        aria-label={t("notes")}
      />
      <small className="muted" role="status">
        {state === "saved" ? t("saved") : state === "saving" ? t("saving") : ""}
      </small>
      <ErrorLine error={error} />
    </div>
  );
}
