//! How the web view composites its page. WebKitGTK composites with OpenGL; on a machine without
//! a GPU (a virtual machine, a remote desktop, a blocklisted driver) that is Mesa's software
//! rasteriser, and drawing one 640×480 picture into the page then took 110–140 ms and about
//! half a core: 4–5 pictures a second shown of 30. Painted without compositing, the same
//! picture takes under a millisecond (README, `make bench-app`). So where there is no GPU to
//! render with, the page is painted without compositing; elsewhere WebKit keeps its default.
//! `TUTTI_COMPOSITING=on|off` overrides the choice (for measurement, and for a machine this
//! guesses wrong).

use crate::video::PictureFormat;
use std::path::Path;

/// Whether the page should be composited (with OpenGL) on this machine.
pub fn composite() -> bool {
    match std::env::var("TUTTI_COMPOSITING").as_deref() {
        Ok("on") => true,
        Ok("off") => false,
        _ => has_render_node(Path::new("/dev/dri")),
    }
}

/// How pictures travel to the web view, where it can take them (else RGBA): still coded
/// (VP8, decoded by the web view's WebCodecs), by measurement the cheapest by far (README,
/// `make bench-app`). `TUTTI_PICTURES=vp8|i420|rgba` overrides it.
pub fn picture_format() -> PictureFormat {
    match std::env::var("TUTTI_PICTURES").as_deref() {
        Ok("i420") => PictureFormat::I420,
        Ok("rgba") => PictureFormat::Rgba,
        _ => PictureFormat::Vp8,
    }
}

/// A GPU that can render shows up as a DRM render node (`/dev/dri/renderD128`, …); without
/// one, OpenGL is software.
fn has_render_node(dri: &Path) -> bool {
    std::fs::read_dir(dri).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    })
}

/// Applies the choice to the main window's web view.
#[cfg(target_os = "linux")]
pub fn apply(window: &tauri::WebviewWindow) {
    use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
    let composite = composite();
    tracing::info!(composite, "web view compositing");
    if composite {
        return;
    }
    let applied = window.with_webview(|webview| {
        if let Some(settings) = WebViewExt::settings(&webview.inner()) {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    });
    if let Err(e) = applied {
        tracing::warn!(error = %e, "cannot set the web view's compositing");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn apply(_window: &tauri::WebviewWindow) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_render_node_means_a_gpu() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_render_node(dir.path()), "no device at all");
        std::fs::write(dir.path().join("card0"), b"").unwrap();
        assert!(
            !has_render_node(dir.path()),
            "a display controller alone renders nothing"
        );
        std::fs::write(dir.path().join("renderD128"), b"").unwrap();
        assert!(has_render_node(dir.path()));
        assert!(!has_render_node(&dir.path().join("missing")));
    }
}
