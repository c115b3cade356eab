//! VP8 through libvpx, set up for live video: one pass, no look-ahead, constant bitrate,
//! error-resilient, real-time speed (the defaults took 11 ms a 640×480 frame here; these
//! settings a fraction of that — see the video benchmark). Keyframes on request.
//!
//! libvpx is C: this module is the one place the media crate calls unsafe code, each call with
//! what makes it sound beside it, behind a safe API.
#![allow(unsafe_code)]

use super::I420Frame;
use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::c_int;
use vpx_sys as vpx;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Vp8Error {
    #[error("libvpx: {0}")]
    Codec(String),
    #[error("a {got_w}×{got_h} frame was given to a {want_w}×{want_h} encoder")]
    FrameSize {
        want_w: u32,
        want_h: u32,
        got_w: u32,
        got_h: u32,
    },
    #[error("frame sizes must be even and at least 16×16, got {0}×{1}")]
    BadSize(u32, u32),
}

fn check(err: vpx::vpx_codec_err_t) -> Result<(), Vp8Error> {
    if err == vpx::vpx_codec_err_t::VPX_CODEC_OK {
        return Ok(());
    }
    // SAFETY: libvpx returns a pointer to a static, NUL-terminated string for every code.
    let text = unsafe { CStr::from_ptr(vpx::vpx_codec_err_to_string(err)) };
    Err(Vp8Error::Codec(text.to_string_lossy().into_owned()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Config {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// libvpx's speed for real time: higher is faster and coarser (VP8 takes −16…16).
    pub cpu_used: i32,
    /// Encoder threads.
    pub threads: u32,
}

impl Default for Vp8Config {
    fn default() -> Self {
        Self {
            width: 640,
            height: 480,
            fps: 30,
            bitrate_kbps: 1200,
            cpu_used: 8,
            threads: 1,
        }
    }
}

/// One coded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// Shared, not copied, by every link it is sent to.
    pub data: bytes::Bytes,
    pub keyframe: bool,
}

pub struct Vp8Encoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
    cfg: Box<vpx::vpx_codec_enc_cfg_t>,
    width: u32,
    height: u32,
    pts: i64,
    frame_ticks: u64,
}

// SAFETY: the codec context is owned by this value alone and libvpx keeps no thread-affine
// state in it; moving it to another thread between calls is fine.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    pub fn new(c: Vp8Config) -> Result<Self, Vp8Error> {
        if c.width < 16 || c.height < 16 || c.width % 2 == 1 || c.height % 2 == 1 {
            return Err(Vp8Error::BadSize(c.width, c.height));
        }
        // SAFETY: both structs are plain C data for which all-zero is a valid value; libvpx
        // fills the configuration in before we read it.
        let mut cfg: Box<vpx::vpx_codec_enc_cfg_t> =
            Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
        let mut ctx: Box<vpx::vpx_codec_ctx_t> =
            Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
        // SAFETY: valid pointers to owned, writable memory.
        check(unsafe { vpx::vpx_codec_enc_config_default(vpx::vpx_codec_vp8_cx(), &mut *cfg, 0) })?;
        let fps = c.fps.clamp(1, 120);
        cfg.g_w = c.width;
        cfg.g_h = c.height;
        cfg.g_timebase = vpx::vpx_rational {
            num: 1,
            den: 90_000,
        };
        cfg.g_threads = c.threads.clamp(1, 8);
        cfg.g_lag_in_frames = 0;
        cfg.g_pass = vpx::vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.g_error_resilient = vpx::VPX_ERROR_RESILIENT_DEFAULT;
        cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = c.bitrate_kbps.max(50);
        cfg.rc_min_quantizer = 2;
        cfg.rc_max_quantizer = 56;
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_sz = 1000;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        // Drop frames rather than build a queue when the network's share shrinks.
        cfg.rc_dropframe_thresh = 30;
        cfg.kf_mode = vpx::vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_max_dist = fps * 10;
        // SAFETY: ctx and cfg are valid; the ABI version is the one the bindings were made for.
        check(unsafe {
            vpx::vpx_codec_enc_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_cx(),
                &*cfg,
                0,
                vpx::VPX_ENCODER_ABI_VERSION as c_int,
            )
        })?;
        let mut enc = Self {
            ctx,
            cfg,
            width: c.width,
            height: c.height,
            pts: 0,
            frame_ticks: u64::from(90_000 / fps),
        };
        use vpx::vp8e_enc_control_id as ctl;
        enc.control(ctl::VP8E_SET_CPUUSED, c.cpu_used.clamp(-16, 16))?;
        enc.control(ctl::VP8E_SET_NOISE_SENSITIVITY, 0)?;
        enc.control(ctl::VP8E_SET_STATIC_THRESHOLD, 1)?;
        Ok(enc)
    }

    fn control(&mut self, id: vpx::vp8e_enc_control_id, value: c_int) -> Result<(), Vp8Error> {
        // SAFETY: an initialised context; these controls take one int.
        check(unsafe { vpx::vpx_codec_control_(&mut *self.ctx, id as c_int, value) })
    }

    /// Follows the network: the bitrate to aim at from the next frame on.
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), Vp8Error> {
        let before = self.cfg.rc_target_bitrate;
        self.cfg.rc_target_bitrate = kbps.max(50);
        // SAFETY: an initialised context and a configuration it was made from.
        let set = check(unsafe { vpx::vpx_codec_enc_config_set(&mut *self.ctx, &*self.cfg) });
        if set.is_err() {
            // What we report must stay what libvpx uses.
            self.cfg.rc_target_bitrate = before;
        }
        set
    }

    pub fn bitrate_kbps(&self) -> u32 {
        self.cfg.rc_target_bitrate
    }

    /// Codes one frame (a keyframe if asked); `out` gets what the encoder produced (nothing if
    /// rate control dropped the frame).
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        keyframe: bool,
        out: &mut Vec<EncodedFrame>,
    ) -> Result<(), Vp8Error> {
        if frame.width != self.width
            || frame.height != self.height
            || frame.data.len() < I420Frame::size(frame.width, frame.height)
        {
            return Err(Vp8Error::FrameSize {
                want_w: self.width,
                want_h: self.height,
                got_w: frame.width,
                got_h: frame.height,
            });
        }
        // SAFETY: zeroed is a valid vpx_image; vpx_img_wrap points it at the frame's buffer,
        // which is large enough (checked above) and outlives the encode call. libvpx only reads
        // the input, so handing it a pointer derived from a shared borrow is sound.
        let mut img: vpx::vpx_image_t = unsafe { MaybeUninit::zeroed().assume_init() };
        let wrapped = unsafe {
            vpx::vpx_img_wrap(
                &mut img,
                vpx::vpx_img_fmt::VPX_IMG_FMT_I420,
                self.width,
                self.height,
                1,
                frame.data.as_ptr().cast_mut(),
            )
        };
        if wrapped.is_null() {
            return Err(Vp8Error::Codec("cannot wrap the frame".into()));
        }
        let flags = if keyframe {
            vpx::VPX_EFLAG_FORCE_KF as vpx::vpx_enc_frame_flags_t
        } else {
            0
        };
        // SAFETY: an initialised context and a wrapped image valid for this call.
        check(unsafe {
            vpx::vpx_codec_encode(
                &mut *self.ctx,
                &img,
                self.pts,
                self.frame_ticks as _,
                flags,
                vpx::VPX_DL_REALTIME as _,
            )
        })?;
        self.pts += self.frame_ticks as i64;
        let mut iter: vpx::vpx_codec_iter_t = std::ptr::null();
        loop {
            // SAFETY: iterating the context's output as libvpx documents; each packet is valid
            // until the next call on the context.
            let pkt = unsafe { vpx::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if pkt.is_null() {
                break;
            }
            let pkt = unsafe { &*pkt };
            if pkt.kind != vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                continue;
            }
            // SAFETY: a frame packet's union member is `frame`; buf/sz describe its bytes.
            let f = unsafe { pkt.data.frame };
            let Ok(len) = usize::try_from(f.sz) else {
                continue;
            };
            let data = bytes::Bytes::copy_from_slice(unsafe {
                std::slice::from_raw_parts(f.buf as *const u8, len)
            });
            out.push(EncodedFrame {
                data,
                keyframe: f.flags & vpx::VPX_FRAME_IS_KEY != 0,
            });
        }
        Ok(())
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { vpx::vpx_codec_destroy(&mut *self.ctx) };
    }
}

pub struct Vp8Decoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
}

// SAFETY: as for the encoder.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    pub fn new() -> Result<Self, Vp8Error> {
        // SAFETY: zeroed is a valid context to initialise; default decoder configuration.
        let mut ctx: Box<vpx::vpx_codec_ctx_t> =
            Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
        check(unsafe {
            vpx::vpx_codec_dec_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_dx(),
                std::ptr::null(),
                0,
                vpx::VPX_DECODER_ABI_VERSION as c_int,
            )
        })?;
        Ok(Self { ctx })
    }

    /// Decodes one frame's data; `Ok(None)` when it yields no picture (yet). Corrupt data is an
    /// error, never a crash; after one, wait for a keyframe.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<I420Frame>, Vp8Error> {
        let len =
            u32::try_from(data.len()).map_err(|_| Vp8Error::Codec("frame too large".into()))?;
        // SAFETY: an initialised context; data/len describe a readable buffer.
        check(unsafe {
            vpx::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, std::ptr::null_mut(), 0)
        })?;
        let mut iter: vpx::vpx_codec_iter_t = std::ptr::null();
        let mut last = None;
        loop {
            // SAFETY: iterating decoded images; each is valid until the next decode call.
            let img = unsafe { vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
            if img.is_null() {
                break;
            }
            last = Some(copy_image(unsafe { &*img }));
        }
        Ok(last)
    }
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { vpx::vpx_codec_destroy(&mut *self.ctx) };
    }
}

/// Copies a decoded I420 image (planes with strides) into a tightly packed frame.
fn copy_image(img: &vpx::vpx_image_t) -> I420Frame {
    let (w, h) = (img.d_w, img.d_h);
    let mut f = I420Frame::new(w, h);
    let (cw, ch) = f.chroma_size();
    let mut at = 0usize;
    for (plane, pw, ph) in [(0usize, w, h), (1, cw, ch), (2, cw, ch)] {
        let stride = img.stride[plane] as isize;
        for row in 0..ph as isize {
            // SAFETY: libvpx guarantees `ph` rows of at least `pw` bytes at `stride` apart in
            // each plane of the image it returns.
            let src = unsafe {
                std::slice::from_raw_parts(img.planes[plane].offset(row * stride), pw as usize)
            };
            f.data[at..at + pw as usize].copy_from_slice(src);
            at += pw as usize;
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::{TestPattern, read_stamp};

    #[test]
    fn the_test_pattern_survives_vp8_with_every_stamp_in_order() {
        let mut enc = Vp8Encoder::new(Vp8Config::default()).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let mut pattern = TestPattern::new(640, 480);
        let mut out = Vec::new();
        let mut read = Vec::new();
        let mut bytes = 0;
        for k in 0..60u32 {
            out.clear();
            let frame = pattern.next_frame(5_000 + k * 33);
            enc.encode(&frame, k == 0, &mut out).unwrap();
            for e in &out {
                bytes += e.data.len();
                if k == 0 {
                    assert!(e.keyframe, "the first frame is a keyframe");
                }
                if let Some(pic) = dec.decode(&e.data).unwrap() {
                    assert_eq!((pic.width, pic.height), (640, 480));
                    read.push(read_stamp(&pic).map(|s| s.frame));
                }
            }
        }
        let frames: Vec<u32> = read.iter().map(|r| r.expect("a readable stamp")).collect();
        assert!(frames.len() >= 50, "few frames dropped: {frames:?}");
        assert!(
            frames.windows(2).all(|w| w[1] > w[0]),
            "in order: {frames:?}"
        );
        // About 1.2 Mb/s at 30 fps: 5 kB a frame; rate control lets the first few run over.
        assert!(bytes < 60 * 12_000, "{bytes} bytes for 60 frames");
    }

    #[test]
    fn keyframes_come_when_asked_and_bitrate_follows() {
        let mut enc = Vp8Encoder::new(Vp8Config {
            width: 320,
            height: 240,
            ..Vp8Config::default()
        })
        .unwrap();
        let mut pattern = TestPattern::new(320, 240);
        let mut out = Vec::new();
        for k in 0..10 {
            out.clear();
            enc.encode(&pattern.next_frame(0), k == 5, &mut out)
                .unwrap();
            if k == 5 {
                assert!(out.iter().any(|e| e.keyframe));
            } else if k > 0 {
                assert!(out.iter().all(|e| !e.keyframe), "frame {k}");
            }
        }
        enc.set_bitrate(300).unwrap();
        assert_eq!(enc.bitrate_kbps(), 300);
        // And the encoder codes to it: far below what the pattern needs, markedly fewer bytes.
        let mut bytes_at = |kbps: u32, enc: &mut Vp8Encoder| {
            enc.set_bitrate(kbps).unwrap();
            let mut total = 0;
            for k in 0..60 {
                out.clear();
                enc.encode(&pattern.next_frame(0), false, &mut out).unwrap();
                if k >= 30 {
                    total += out.iter().map(|e| e.data.len()).sum::<usize>();
                }
            }
            total
        };
        let high = bytes_at(2000, &mut enc);
        let low = bytes_at(60, &mut enc);
        assert!(low * 2 < high, "{low} bytes at 60 kb/s, {high} at 2000");
    }

    #[test]
    fn bad_input_is_an_error_not_a_crash() {
        assert_eq!(
            Vp8Encoder::new(Vp8Config {
                width: 641,
                ..Vp8Config::default()
            })
            .err(),
            Some(Vp8Error::BadSize(641, 480))
        );
        let mut enc = Vp8Encoder::new(Vp8Config::default()).unwrap();
        let small = TestPattern::new(320, 240).next_frame(0);
        assert!(matches!(
            enc.encode(&small, false, &mut Vec::new()),
            Err(Vp8Error::FrameSize { .. })
        ));
        let mut dec = Vp8Decoder::new().unwrap();
        assert!(dec.decode(&[0xFF; 40]).is_err());
        assert!(
            !matches!(dec.decode(&[]), Ok(Some(_))),
            "nothing decodes from nothing"
        );
    }
}
