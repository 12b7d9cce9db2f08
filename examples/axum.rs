//! An axum application with one API route and henaserver's file service
//! as its fallback: `cargo run --features tower --example axum -- ROOT PORT`.

use std::net::SocketAddr;

use axum::routing::get;
use axum::Router;
use henaserver::Files;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(root), Some(port)) = (args.next(), args.next()) else {
        eprintln!("usage: axum ROOT PORT");
        std::process::exit(2);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("axum: {port:?} is not a port");
        std::process::exit(2);
    };
    let files = match Files::try_new(&root) {
        Ok(files) => files.listing(true).cache_control("public, max-age=60"),
        Err(e) => {
            eprintln!("axum: {e}");
            std::process::exit(2);
        }
    };
    let app = Router::new()
        .route("/api/hello", get(|| async { "hello from the API\n" }))
        .fallback_service(files);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap_or_else(|e| {
            eprintln!("axum: cannot listen on port {port}: {e}");
            std::process::exit(1);
        });
    println!(
        "serving {root} at http://{}/",
        listener.local_addr().unwrap()
    );
    axum::serve(listener, app).await.unwrap();
}
