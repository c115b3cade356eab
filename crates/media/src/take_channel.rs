//! The link's second data channel: takes' lossless tracks to the host ([`crate::take_transfer`]
//! decides; this task does the sending, the reading and the writing). Negotiated as id 1 on
//! both sides, reliable and ordered, beside the clock's channel (id 0, which must stay
//! unreliable: a late ping is worse than none).
//!
//! Sent at a steady pace ([`LinkConfig::take_bytes_per_s`](crate::link::LinkConfig)) and with
//! little buffered, so that a take travelling during the lesson leaves room for the sound: the
//! data channel shares the path, and its congestion control would otherwise fill it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::mpsc;
use tutti_protocol::take::{Chunk, FromReceiver, FromSender};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::PeerConnection;

use crate::link::{LinkError, LinkEvent};
use crate::take_transfer::{SenderEffect, TakeInbox, TakeReader, TakeSender, TakeToSend};

const CHANNEL_ID: u16 = 1;
const LABEL: &str = "tutti-take";
/// No more than this waits in the channel's buffer: the pace, not the buffer, sets the rate.
const BUFFERED_AT_MOST: usize = 64 * 1024;

/// The sending half, kept by the link.
pub struct TakeChannel {
    send: mpsc::UnboundedSender<TakeToSend>,
    sent: Arc<AtomicU64>,
}

impl TakeChannel {
    /// Creates the channel on `pc` (before the offer or answer) and starts its task: takes
    /// offered to us are kept in `inbox` (none: refused), ours sent at `bytes_per_s`.
    pub async fn open(
        pc: &Arc<dyn PeerConnection>,
        inbox: Option<PathBuf>,
        bytes_per_s: u64,
        events: mpsc::UnboundedSender<LinkEvent>,
    ) -> Result<Self, LinkError> {
        let dc = pc
            .create_data_channel(
                LABEL,
                Some(RTCDataChannelInit {
                    ordered: true,
                    negotiated: Some(CHANNEL_ID),
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| LinkError::Webrtc(e.to_string()))?;
        let (send, queued) = mpsc::unbounded_channel();
        let sent = Arc::new(AtomicU64::new(0));
        let task = Task {
            sent: sent.clone(),
            dc,
            inbox: inbox.map(|d| TakeInbox::new(&d)),
            pace: Duration::from_secs_f64(
                crate::take_transfer::CHUNK_DATA as f64 / bytes_per_s.max(1) as f64,
            ),
            events,
            sender: TakeSender::default(),
            stream: None,
            next_chunk_at: Instant::now(),
        };
        tokio::spawn(task.run(queued));
        Ok(Self { send, sent })
    }

    /// Bytes of takes' files sent on this channel.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Relaxed)
    }

    /// Sends `take` to the other side once those queued before it are delivered; the link says
    /// when it is ([`LinkEvent::TakeDelivered`]).
    pub fn send(&self, take: TakeToSend) {
        let _ = self.send.send(take);
    }
}

struct Task {
    sent: Arc<AtomicU64>,
    dc: Arc<dyn DataChannel>,
    inbox: Option<TakeInbox>,
    pace: Duration,
    events: mpsc::UnboundedSender<LinkEvent>,
    sender: TakeSender,
    stream: Option<TakeReader>,
    next_chunk_at: Instant,
}

impl Task {
    async fn run(mut self, mut queued: mpsc::UnboundedReceiver<TakeToSend>) {
        let mut incoming = crate::peer_channel::read_events(self.dc.clone());
        let far = || Instant::now() + Duration::from_secs(3600);
        loop {
            let timeout = self.sender.poll_timeout().unwrap_or_else(far);
            let chunk_at = if self.stream.is_some() {
                self.next_chunk_at
            } else {
                far()
            };
            tokio::select! {
                event = incoming.recv() => {
                    let Some((_, event)) = event else { break };
                    match event {
                        DataChannelEvent::OnOpen => {
                            let fx = self.sender.opened(Instant::now());
                            self.apply(fx).await;
                        }
                        DataChannelEvent::OnClose => {
                            let fx = self.sender.closed();
                            self.apply(fx).await;
                            break;
                        }
                        DataChannelEvent::OnMessage(m) if m.is_string => self.on_text(&m.data).await,
                        DataChannelEvent::OnMessage(m) => self.on_binary(&m.data).await,
                        _ => {}
                    }
                }
                take = queued.recv() => {
                    let Some(take) = take else { break }; // the link is gone
                    let fx = self.sender.queue(Instant::now(), take);
                    self.apply(fx).await;
                }
                () = tokio::time::sleep_until(timeout.into()) => {
                    let fx = self.sender.handle_timeout(Instant::now());
                    self.apply(fx).await;
                }
                () = tokio::time::sleep_until(chunk_at.into()) => self.send_chunk().await,
            }
        }
    }

    async fn on_text(&mut self, data: &[u8]) {
        if let Ok(m) = serde_json::from_slice::<FromReceiver>(data) {
            let fx = self.sender.on_message(Instant::now(), m);
            self.apply(fx).await;
        } else if let Ok(m) = serde_json::from_slice::<FromSender>(data) {
            let answer = match &mut self.inbox {
                Some(inbox) => inbox.offer(m),
                None => {
                    let FromSender::Offer { id, .. } = m;
                    FromReceiver::Refused {
                        id,
                        reason: "takes are kept by the host".into(),
                    }
                }
            };
            self.say(&answer).await;
        } else {
            tracing::debug!("a message on the take channel that is not ours");
        }
    }

    async fn on_binary(&mut self, data: &[u8]) {
        let (Some(inbox), Ok(chunk)) = (&mut self.inbox, Chunk::decode(data)) else {
            return;
        };
        let (answer, got) = inbox.chunk(chunk);
        if let Some(answer) = answer {
            self.say(&answer).await;
        }
        if let Some(got) = got {
            tracing::info!(take = %got.id, path = %got.path.display(), "a take arrived");
            let _ = self.events.send(LinkEvent::TakeReceived(got));
        }
    }

    async fn say<T: serde::Serialize>(&self, m: &T) {
        let Ok(text) = serde_json::to_string(m) else {
            return;
        };
        if let Err(e) = self.dc.send_text(&text).await {
            tracing::debug!(error = %e, "take channel send");
        }
    }

    async fn apply(&mut self, effects: Vec<SenderEffect>) {
        for fx in effects {
            match fx {
                SenderEffect::Send(m) => self.say(&m).await,
                SenderEffect::Stream { take, from } => match TakeReader::open(&take, from) {
                    Ok(r) => {
                        self.stream = Some(r);
                        self.next_chunk_at = Instant::now();
                    }
                    Err(e) => {
                        // The file is gone or unreadable here: nothing to send, said once.
                        tracing::warn!(error = %e, take = %take.id, "a take cannot be read");
                        self.stream = None;
                        let _ = self.events.send(LinkEvent::TakeRefused {
                            take,
                            reason: e.to_string(),
                        });
                    }
                },
                SenderEffect::StopStreaming => self.stream = None,
                SenderEffect::Delivered(take) => {
                    let _ = self.events.send(LinkEvent::TakeDelivered(take));
                }
                SenderEffect::Refused { take, reason } => {
                    let _ = self.events.send(LinkEvent::TakeRefused { take, reason });
                }
            }
        }
    }

    /// The next chunk of the stream, if the buffer has room; the one after a pace later.
    async fn send_chunk(&mut self) {
        let now = Instant::now();
        if self.dc.outstanding_bytes().await.unwrap_or(0) > BUFFERED_AT_MOST {
            self.next_chunk_at = now + Duration::from_millis(5);
            return;
        }
        let Some(stream) = &mut self.stream else {
            return;
        };
        match stream.next_chunk() {
            Ok(Some(bytes)) => {
                match self.dc.send(BytesMut::from(&bytes[..])).await {
                    Ok(()) => {
                        let data = Chunk::decode(&bytes).map_or(0, |c| c.data.len());
                        self.sent.fetch_add(data as u64, Relaxed);
                    }
                    Err(e) => tracing::debug!(error = %e, "take channel send"),
                }
                // Paced from when it was due, not from now: a late wake-up catches up.
                self.next_chunk_at = (self.next_chunk_at + self.pace).max(now - self.pace);
            }
            Ok(None) => {
                self.stream = None;
                self.sender.streamed(now);
            }
            Err(e) => {
                tracing::warn!(error = %e, "a take could not be read");
                self.stream = None;
            }
        }
    }
}
