// A lesson in any browser, with the browser's own WebRTC: no install. Served by the room
// server at /join/CODE (as a student: heard and seen by everyone) and /watch/CODE (as an
// observer: listens, asks in the queue, speaks when the host gives the mic). It speaks the room
// protocol and the media contract of docs/protocol.md and nothing else.
"use strict";

const TEXT = {
  en: {
    yourName: "Your name",
    join: "Ask to join",
    watch: "Watch and listen",
    noInstall: "Nothing to install: sound and picture go straight between you and the teacher.",
    connecting: "Connecting to the room server…",
    waiting: "Waiting for the teacher to let you in…",
    hostAway: "The teacher is not here yet; you will be let in when they arrive.",
    inLesson: "In the lesson.",
    denied: "The teacher did not let you in.",
    removed: "You were removed from the lesson.",
    ended: "The lesson has ended.",
    lost: "The connection to the room server was lost. Reload the page to come back.",
    reconnecting: "The room server cannot be reached: trying again… (sound and picture go on meanwhile)",
    expired: "Your place in the lesson has expired: reload the page to knock again.",
    needsHttps: "This browser allows the microphone only on a secure (https) page: you can listen and watch.",
    clickToHear: "Click to hear the lesson",
    mutedByHost: "The teacher has muted your microphone for everyone.",
    noMic: "No microphone: the others will not hear you, but you can listen and watch.",
    badCode: "This link has no lesson code.",
    refused: "The room server refused: ",
    questions: "Questions",
    ask: "Ask",
    chat: "Chat",
    send: "Send",
    votes: "votes",
    vote: "▲",
    answered: "answered",
    voice: "(voice)",
    anonymous: "someone",
    you: "you",
    connectingMedia: "connecting…",
    relayed: "via relay",
  },
  ko: {
    yourName: "이름",
    join: "입장 요청",
    watch: "보고 듣기",
    noInstall: "설치할 것이 없습니다. 소리와 화면은 선생님과 직접 주고받습니다.",
    connecting: "룸 서버에 연결 중…",
    waiting: "선생님이 입장을 허락하기를 기다리는 중…",
    hostAway: "선생님이 아직 오지 않았습니다. 오시면 입장할 수 있습니다.",
    inLesson: "수업 중입니다.",
    denied: "선생님이 입장을 허락하지 않았습니다.",
    removed: "수업에서 내보내졌습니다.",
    ended: "수업이 끝났습니다.",
    lost: "룸 서버와의 연결이 끊겼습니다. 페이지를 새로 고쳐 다시 들어오세요.",
    reconnecting: "룸 서버에 연결할 수 없습니다. 다시 시도하는 중… (소리와 화면은 계속됩니다)",
    expired: "수업 자리가 만료되었습니다. 페이지를 새로 고쳐 다시 입장을 요청하세요.",
    needsHttps: "이 브라우저는 보안(https) 페이지에서만 마이크를 허용합니다. 보고 들을 수는 있습니다.",
    clickToHear: "눌러서 수업 소리 듣기",
    mutedByHost: "선생님이 내 마이크를 모두에게 음소거했습니다.",
    noMic: "마이크가 없습니다. 다른 사람은 내 소리를 들을 수 없지만 보고 들을 수는 있습니다.",
    badCode: "이 링크에는 수업 코드가 없습니다.",
    refused: "룸 서버가 거절했습니다: ",
    questions: "질문",
    ask: "질문하기",
    chat: "채팅",
    send: "보내기",
    votes: "표",
    vote: "▲",
    answered: "답변됨",
    voice: "(음성)",
    anonymous: "익명",
    you: "나",
    connectingMedia: "연결 중…",
    relayed: "중계 서버 경유",
  },
};
/** The room server's refusals a person meets here, by their wire code. */
const REFUSALS = {
  en: {
    invalid_code: "This is not a lesson code: check the link with your teacher.",
    unknown_code: "No lesson has this code: check the link with your teacher.",
    lesson_ended: "This lesson has ended.",
    lesson_full: "The lesson is full.",
    rate_limited: "Too many tries from here: wait a minute and try again.",
    version_mismatch: "This page and the room server do not match: reload the page.",
    invalid_input: "The room server did not accept it (too long, or empty?).",
    not_in_lesson: "You are not in the lesson yet.",
  },
  ko: {
    invalid_code: "수업 코드가 아닙니다. 선생님께 링크를 확인하세요.",
    unknown_code: "이 코드의 수업이 없습니다. 선생님께 링크를 확인하세요.",
    lesson_ended: "이 수업은 끝났습니다.",
    lesson_full: "수업 정원이 찼습니다.",
    rate_limited: "시도가 너무 많습니다. 잠시 후 다시 시도하세요.",
    version_mismatch: "이 페이지와 룸 서버가 맞지 않습니다. 페이지를 새로 고치세요.",
    invalid_input: "룸 서버가 받아들이지 않았습니다(너무 길거나 비어 있나요?).",
    not_in_lesson: "아직 수업에 들어오지 않았습니다.",
  },
};

const lang = (navigator.language || "en").toLowerCase().startsWith("ko") ? "ko" : "en";
const t = (k) => TEXT[lang][k] ?? TEXT.en[k] ?? k;
/** A refusal in the user's language; the server's English words only where we have none. */
const refused = (err) => REFUSALS[lang][err.code] ?? t("refused") + (err.message || err.code);
const $ = (id) => document.getElementById(id);

const [, kind, rawCode] = location.pathname.split("/");
const role = kind === "watch" ? "observer" : "student";
const code = (() => {
  try {
    return decodeURIComponent(rawCode || "");
  } catch {
    return "";
  }
})();
const query = new URLSearchParams(location.search);

// The lesson as this page knows it.
const state = {
  ws: null,
  req: 0,
  pending: new Map(), // req -> {resolve, reject}
  me: null,
  iceServers: [],
  participants: new Map(), // peer -> participant
  links: new Map(), // peer -> Link
  questions: new Map(),
  mic: null, // MediaStream, or null (none, or an observer without the mic)
  micAllowed: role === "student",
  joinedAt: 0,
  name: "",
  // Our place once admitted, to come back to after a lost connection (`rejoin`).
  place: null,
  backoff: 250,
  myVotes: new Set(),
  over: false,
};

// What the tests (and a curious user, in the console) can read: per participant, what arrives.
window.tutti = { state, report };

document.documentElement.lang = lang;
for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
$("go").textContent = role === "observer" ? t("watch") : t("join");

function status(text, bad = false) {
  $("status").textContent = text;
  $("status").className = bad ? "bad" : "";
}

/** What stays said while the lesson goes on (no microphone, muted by the teacher). */
function notice(text) {
  $("notice").textContent = text || "";
  $("notice").hidden = !text;
}

if (!code) {
  status(t("badCode"), true);
} else {
  $("enter").hidden = false;
  $("name").value = query.get("name") || localStorage.getItem("tutti-name") || "";
  $("enter").addEventListener("submit", (e) => {
    e.preventDefault();
    enter($("name").value);
  });
  if (query.has("name") && query.get("autojoin") === "1") enter(query.get("name"));
}
// Leaving the page leaves the lesson (else our place waits for us through the grace period).
addEventListener("pagehide", () => state.place && send({ req: ++state.req, type: "leave" }));

async function enter(raw) {
  const name = raw.trim().slice(0, 60);
  if (!name) return;
  state.name = name;
  localStorage.setItem("tutti-name", name);
  $("enter").hidden = true;
  status(t("connecting"));
  if (role === "student") await openMic();
  connect();
}

/** To the room server: knocks, or after a lost connection takes our place back. */
async function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/ws`);
  state.ws = ws;
  ws.onmessage = (e) => {
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      return;
    }
    onMessage(msg);
  };
  ws.onclose = () => {
    for (const p of state.pending.values()) p.reject({ code: "connection_lost", message: "" });
    state.pending.clear();
    if (state.over || state.ws !== ws) return;
    if (!state.place) return status(t("lost"), true);
    // The media links are peer to peer and go on; only the room server is gone for now.
    status(t("reconnecting"), true);
    setTimeout(connect, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 4000);
  };
  const opened = await new Promise((resolve) => {
    ws.onopen = () => resolve(true);
    ws.onerror = () => resolve(false);
  });
  if (!opened) return;
  try {
    await request({ type: "hello", protocol: 1, client: "tutti-web/1" });
    if (state.place) {
      await request({ type: "rejoin", ...state.place });
      state.backoff = 250;
    } else {
      const waiting = await request({ type: "knock", code, name: state.name, role });
      state.me = waiting.you;
      status(waiting.host_present ? t("waiting") : t("hostAway"));
    }
  } catch (err) {
    if (err.code === "connection_lost") return;
    if (err.code === "session_expired") return over(t("expired"));
    status(refused(err), true);
    // A code that opens nothing: the name form again, to try another link.
    if (!state.place) $("enter").hidden = false;
  }
}

/** The microphone as a musician wants it: nothing processed. */
async function openMic() {
  if (!navigator.mediaDevices) {
    notice(t("needsHttps"));
    return;
  }
  try {
    state.mic = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, autoGainControl: false, noiseSuppression: false, channelCount: 2 },
    });
  } catch {
    state.mic = null;
    notice(t("noMic"));
  }
}

function send(msg) {
  if (state.ws?.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg));
}

/** A request and its one reply (`error` rejects). */
function request(msg) {
  const req = ++state.req;
  send({ req, ...msg });
  return new Promise((resolve, reject) => state.pending.set(req, { resolve, reject }));
}

function onMessage(msg) {
  if (msg.re != null && state.pending.has(msg.re)) {
    const p = state.pending.get(msg.re);
    state.pending.delete(msg.re);
    if (msg.type === "error") p.reject(msg);
    else p.resolve(msg);
    if (msg.type !== "joined") return;
  }
  switch (msg.type) {
    case "joined":
      return onJoined(msg);
    case "host_presence":
      if (!state.joinedAt) status(msg.present ? t("waiting") : t("hostAway"));
      return;
    case "participant_updated":
      return onParticipant(msg.participant);
    case "participant_left":
      state.participants.delete(msg.peer);
      state.links.get(msg.peer)?.close();
      state.links.delete(msg.peer);
      return renderStage();
    case "signal":
      return onSignal(msg.from, msg.signal);
    case "session_expired":
      return over(t("expired"));
    case "question_updated":
      state.questions.set(msg.question.id, msg.question);
      return renderQuestions();
    case "chat_posted":
      return addChat(msg.message);
    case "denied":
      return over(t("denied"));
    case "removed":
      return over(t("removed"));
    case "lesson_ended":
      return over(t("ended"));
    case "session_replaced":
    case "server_closing":
      return over(t("lost"));
  }
}

function over(text) {
  state.over = true;
  status(text, true);
  for (const l of state.links.values()) l.close();
  state.links.clear();
  state.ws?.close();
}

function onJoined(msg) {
  state.joinedAt = performance.now();
  state.me = msg.you.peer;
  state.place = { lesson: msg.lesson.id, peer: msg.you.peer, token: msg.resume_token };
  state.iceServers = (msg.ice_servers || []).map((s) => ({
    urls: s.urls,
    username: s.username,
    credential: s.credential,
  }));
  $("title").textContent = msg.lesson.title;
  document.title = `${msg.lesson.title} — Tutti`;
  status(t("inLesson"));
  $("lesson").hidden = false;
  // Whole again on every `joined` (a rejoin brings what was missed).
  state.questions.clear();
  for (const q of msg.questions) state.questions.set(q.id, q);
  state.myVotes = new Set(msg.your_votes);
  renderQuestions();
  $("chat").replaceChildren();
  for (const c of msg.chat) addChat(c);
  const present = new Set(msg.participants.map((p) => p.peer));
  for (const peer of [...state.participants.keys()]) {
    if (!present.has(peer)) {
      state.participants.delete(peer);
      state.links.get(peer)?.close();
      state.links.delete(peer);
    }
  }
  for (const p of msg.participants) onParticipant(p);
  renderStage();
}

function onParticipant(p) {
  if (p.peer === state.me) return onOwnMic(p.mic);
  state.participants.set(p.peer, p);
  const link = state.links.get(p.peer);
  if (p.connected && (!link || link.dead())) {
    // New, or back with its link gone: the offerer builds one, the answerer asks for one.
    const fresh = new Link(p.peer);
    link?.close();
    state.links.set(p.peer, fresh);
    fresh.start();
  }
  renderStage();
}

/** The host gave or took our mic: nothing of ours is sent without it. */
function onOwnMic(allowed) {
  const was = state.micAllowed;
  state.micAllowed = allowed;
  if (state.mic) for (const track of state.mic.getAudioTracks()) track.enabled = allowed;
  notice(!allowed && role === "student" ? t("mutedByHost") : "");
  if (allowed && !was && role === "observer" && !state.mic) {
    // An observer asking aloud: the mic goes out on the next negotiation of each link.
    openMic().then(() => {
      if (state.mic) for (const l of state.links.values()) l.addMic();
    });
  }
}

function onSignal(from, signal) {
  let link = state.links.get(from);
  if (signal.kind === "offer" && state.me < from) {
    // We offer to them: an offer from them is against the contract (glare), and ignored.
    console.warn(`an offer from ${from}, to whom we offer: ignored`);
    return;
  }
  if (signal.kind === "restart" && (!link || link.pc.signalingState !== "stable")) {
    // A restart of a link we no longer hold: say so, and the offerer builds a new one.
    request({ type: "signal", to: from, signal: { kind: "ready" } }).catch(() => {});
    return;
  }
  if (signal.kind === "offer") {
    // Every offer is a fresh start of the other side's: a new peer connection answers it.
    link?.close();
    link = new Link(from);
    state.links.set(from, link);
  }
  link?.onSignal(signal);
  renderStage();
}

/** One peer connection to one participant, by the media contract: the participant whose id
 * sorts first offers; the other answers and says `ready` when it has no link. */
class Link {
  constructor(peer) {
    this.peer = peer;
    this.offerer = state.me < peer;
    this.remoteSet = false;
    this.offeredAt = 0;
    this.held = []; // candidates before the remote description
    this.stream = new MediaStream();
    const pc = new RTCPeerConnection({ iceServers: state.iceServers });
    this.pc = pc;
    // Both data channels of the contract, negotiated: the clock's (unordered) and takes'.
    this.channel = pc.createDataChannel("tutti", { negotiated: true, id: 0, ordered: false, maxRetransmits: 0 });
    this.channel.onmessage = (e) => this.onPeerMessage(e.data);
    pc.createDataChannel("tutti-take", { negotiated: true, id: 1 });
    if (state.mic) {
      for (const track of state.mic.getTracks()) {
        track.enabled = state.micAllowed;
        pc.addTrack(track, state.mic);
      }
    }
    pc.onicecandidate = (e) => {
      if (e.candidate) {
        const { candidate, sdpMid, sdpMLineIndex } = e.candidate;
        this.signal({ kind: "candidate", candidate, sdp_mid: sdpMid, sdp_mline_index: sdpMLineIndex });
      } else {
        this.signal({ kind: "end_of_candidates" });
      }
    };
    pc.ontrack = (e) => {
      this.stream.addTrack(e.track);
      renderStage();
    };
    pc.onconnectionstatechange = () => {
      renderStage();
      clearTimeout(this.stall);
      if (this.closed) return;
      // The offerer builds a failed link again, or one whose path has been gone 5 s (a
      // network changed); the answerer asks it to.
      if (pc.connectionState === "failed") this.lost();
      if (pc.connectionState === "disconnected") this.stall = setTimeout(() => this.lost(), 5000);
    };
  }

  signal(signal) {
    request({ type: "signal", to: this.peer, signal }).catch(() => {});
  }

  dead() {
    return this.closed || ["failed", "closed"].includes(this.pc.connectionState);
  }

  lost() {
    if (this.closed || state.links.get(this.peer) !== this) return;
    if (this.offerer) this.restart();
    else this.signal({ kind: "ready" });
  }

  start() {
    if (this.offerer) {
      this.offer();
    } else {
      // The offerer may have offered before we were here to hear it: if nothing comes soon,
      // say we have no link.
      setTimeout(() => {
        if (!this.remoteSet && !this.closed && state.links.get(this.peer) === this) {
          this.signal({ kind: "ready" });
        }
      }, 2000);
    }
  }

  async offer() {
    const pc = this.pc;
    if (!state.mic) pc.addTransceiver("audio", { direction: "recvonly" });
    pc.addTransceiver("video", { direction: "recvonly" });
    await pc.setLocalDescription(await pc.createOffer());
    this.offeredAt = performance.now();
    this.signal({ kind: "offer", sdp: pc.localDescription.sdp });
  }

  restart() {
    this.close();
    const link = new Link(this.peer);
    state.links.set(this.peer, link);
    link.start();
  }

  addMic() {
    // A mic granted later goes out on the next negotiation: the offerer's next offer, or ours.
    if (this.offerer) this.restart();
    else this.signal({ kind: "ready" });
  }

  async onSignal(s) {
    const pc = this.pc;
    try {
      if (s.kind === "offer" || s.kind === "restart") {
        await pc.setRemoteDescription({ type: "offer", sdp: s.sdp });
        await this.remoteApplied();
        await pc.setLocalDescription(await pc.createAnswer());
        this.signal({ kind: "answer", sdp: pc.localDescription.sdp });
      } else if (s.kind === "answer") {
        await pc.setRemoteDescription({ type: "answer", sdp: s.sdp });
        await this.remoteApplied();
      } else if (s.kind === "candidate") {
        const c = { candidate: s.candidate, sdpMid: s.sdp_mid ?? null, sdpMLineIndex: s.sdp_mline_index ?? null };
        if (this.remoteSet) await pc.addIceCandidate(c);
        else this.held.push(c);
      } else if (s.kind === "ready" && this.offerer) {
        // Said as they came in, before our offer reached them: that offer is their link.
        const waiting = pc.signalingState === "have-local-offer" && performance.now() - this.offeredAt < 5000;
        if (!waiting) this.restart();
      }
    } catch (err) {
      console.warn(`signal ${s.kind} from ${this.peer}: ${err}`);
    }
  }

  async remoteApplied() {
    this.remoteSet = true;
    for (const c of this.held.splice(0)) await this.pc.addIceCandidate(c).catch(() => {});
  }

  onPeerMessage(data) {
    // The clock exchange: answer pings, so that the other side can measure the path to us.
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    if (m.type === "clock_ping" && this.channel.readyState === "open") {
      const now = Math.round(performance.now() * 1e6);
      this.channel.send(JSON.stringify({ type: "clock_pong", id: m.id, t2: now, t3: now }));
    }
  }

  close() {
    this.closed = true;
    this.pc.close();
  }
}

function renderStage() {
  const stage = $("stage");
  for (const [peer, p] of state.participants) {
    let tile = stage.querySelector(`[data-peer="${CSS.escape(peer)}"]`);
    if (!tile) {
      tile = document.createElement("div");
      tile.className = "tile";
      tile.dataset.peer = peer;
      const video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      const who = document.createElement("span");
      who.className = "who";
      tile.append(video, who);
      stage.append(tile);
    }
    const link = state.links.get(peer);
    const video = tile.querySelector("video");
    // One whose mic the host took is not heard (Tutti's app does the same).
    video.muted = !p.mic;
    if (link && video.srcObject !== link.stream) {
      video.srcObject = link.stream;
      // Only a refusal of sound without a click needs the user; an interrupted play() does not.
      video.play().catch((e) => e?.name === "NotAllowedError" && askToPlay());
    }
    const conn = link?.pc.connectionState;
    tile.querySelector(".who").textContent =
      p.name + (conn && conn !== "connected" ? ` · ${t("connectingMedia")}` : "");
  }
  for (const tile of stage.querySelectorAll(".tile")) {
    if (!state.participants.has(tile.dataset.peer)) tile.remove();
  }
}

/** The browser would not play sound before a click on the page: one click starts it all. */
function askToPlay() {
  const b = $("play");
  b.textContent = t("clickToHear");
  b.hidden = false;
  b.onclick = () => {
    b.hidden = true;
    for (const v of document.querySelectorAll("#stage video")) v.play().catch(() => {});
  };
}

function renderQuestions() {
  const list = $("questions");
  list.replaceChildren();
  const qs = [...state.questions.values()].filter((q) => q.state !== "dismissed").sort(
    (a, b) => (b.pinned - a.pinned) || ((a.state === "answered") - (b.state === "answered")) || (b.votes - a.votes) || (a.asked_at - b.asked_at),
  );
  for (const q of qs) {
    const li = document.createElement("li");
    li.className = [q.state === "answered" ? "answered" : "", q.pinned ? "pinned" : ""].join(" ").trim();
    const vote = document.createElement("button");
    vote.textContent = `${t("vote")} ${q.votes}`;
    vote.title = t("votes");
    const mine = state.myVotes.has(q.id);
    vote.setAttribute("aria-pressed", String(mine));
    vote.onclick = () =>
      request({ type: "vote", question: q.id, up: !mine }).then(() => {
        if (mine) state.myVotes.delete(q.id);
        else state.myVotes.add(q.id);
        renderQuestions();
      }, () => {});
    const text = document.createElement("span");
    const who = q.anonymous ? t("anonymous") : q.author === state.me ? t("you") : q.author_name || "";
    text.textContent = ` ${q.text || t("voice")} — ${who}${q.state === "answered" ? ` (${t("answered")})` : ""}`;
    li.append(vote, text);
    list.append(li);
  }
}

function addChat(m) {
  const li = document.createElement("li");
  const b = document.createElement("b");
  b.textContent = m.from === state.me ? t("you") : m.from_name;
  li.append(b, document.createTextNode(` ${m.text}`));
  $("chat").append(li);
  li.scrollIntoView({ block: "nearest" });
}

$("ask").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("question").value.trim();
  if (!text) return;
  request({ type: "ask_question", text, kind: "text", anonymous: false }).then(
    () => ($("question").value = ""),
    (err) => status(refused(err), true),
  );
});

$("say").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("message").value.trim();
  if (!text) return;
  request({ type: "chat", text }).then(
    () => ($("message").value = ""),
    (err) => status(refused(err), true),
  );
});

/** What arrives from each participant, from the browser's own statistics: for the tests, and
 * for anyone reporting a problem. */
async function report() {
  const out = {};
  for (const [peer, link] of state.links) {
    const r = { state: link.pc.connectionState, audio: null, video: null, sent_audio_packets: 0 };
    const stats = await link.pc.getStats();
    const codecs = new Map();
    stats.forEach((s) => s.type === "codec" && codecs.set(s.id, s.mimeType));
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        r.audio = {
          codec: codecs.get(s.codecId) ?? null,
          packets: s.packetsReceived,
          samples: s.totalSamplesReceived,
          concealed: s.concealedSamples,
          level: s.audioLevel ?? null,
        };
      }
      if (s.type === "inbound-rtp" && s.kind === "video") {
        r.video = {
          codec: codecs.get(s.codecId) ?? null,
          decoded: s.framesDecoded ?? 0,
          width: s.frameWidth ?? 0,
          height: s.frameHeight ?? 0,
          fps: s.framesPerSecond ?? 0,
        };
      }
      if (s.type === "outbound-rtp" && s.kind === "audio") r.sent_audio_packets = s.packetsSent;
    });
    r.pitch_hz = pitchOf(link);
    out[peer] = r;
  }
  return out;
}

/** The strongest frequency in what we hear from `link`, Hz (an analyser on its stream). */
function pitchOf(link) {
  if (!link.stream.getAudioTracks().length) return null;
  if (!link.analyser) {
    const ctx = new AudioContext({ sampleRate: 48000 });
    const source = ctx.createMediaStreamSource(link.stream);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 16384;
    source.connect(analyser);
    link.analyser = analyser;
    return null;
  }
  const bins = new Float32Array(link.analyser.frequencyBinCount);
  link.analyser.getFloatFrequencyData(bins);
  let best = 0;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  if (bins[best] < -80) return null;
  return (best * link.analyser.context.sampleRate) / link.analyser.fftSize;
}
