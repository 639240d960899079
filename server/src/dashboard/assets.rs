//! The stylesheet, script and icon, embedded in the binary and served under
//! names that carry a hash of their content, so browsers may cache them for
//! a year: a new release has new names.

use std::sync::LazyLock;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{web, HttpResponse};

pub struct Asset {
    /// The URL path, e.g. `/assets/dashboard.3f2a9c01d4.css`.
    pub url: String,
    pub body: &'static [u8],
    pub content_type: &'static str,
}

fn asset(stem: &str, ext: &str, body: &'static [u8], content_type: &'static str) -> Asset {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let hash = hex::encode(&digest.as_ref()[..5]);
    Asset {
        url: format!("/assets/{stem}.{hash}.{ext}"),
        body,
        content_type,
    }
}

pub static CSS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "dashboard",
        "css",
        include_bytes!("../../assets/dashboard.css"),
        "text/css; charset=utf-8",
    )
});

pub static JS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "dashboard",
        "js",
        include_bytes!("../../assets/dashboard.js"),
        "text/javascript; charset=utf-8",
    )
});

pub static ICON: LazyLock<Asset> =
    LazyLock::new(|| asset("icon", "svg", include_bytes!("../../assets/icon.svg"), "image/svg+xml"));

pub async fn get(path: web::Path<String>) -> HttpResponse {
    let wanted = format!("/assets/{}", path.into_inner());
    match [&*CSS, &*JS, &*ICON].into_iter().find(|a| a.url == wanted) {
        Some(a) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, a.content_type))
            .insert_header((CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(a.body),
        None => HttpResponse::NotFound()
            .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("no such asset"),
    }
}

/// Browsers ask for `/favicon.ico` regardless of the page's icon link.
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, ICON.content_type))
        .insert_header((CACHE_CONTROL, "public, max-age=86400"))
        .body(ICON.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_change_with_content() {
        let a = asset("x", "css", b"a{}", "text/css");
        let b = asset("x", "css", b"b{}", "text/css");
        assert_ne!(a.url, b.url);
        assert!(a.url.starts_with("/assets/x.") && a.url.ends_with(".css"));
        assert!(CSS.url.ends_with(".css") && JS.url.ends_with(".js"));
    }
}
