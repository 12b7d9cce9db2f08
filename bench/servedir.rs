//! One axum application, two file services, for `bench/library.py`:
//! `servedir files|servedir ROOT PORT` serves ROOT as the app's fallback
//! with henaserver's `Files` or tower-http's `ServeDir`, on one thread.

use std::net::SocketAddr;

use axum::Router;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, root, port] = args.as_slice() else {
        eprintln!("usage: servedir files|servedir ROOT PORT");
        std::process::exit(2);
    };
    let app = match mode.as_str() {
        "files" => Router::new().fallback_service(henaserver::Files::new(root)),
        "servedir" => Router::new().fallback_service(tower_http::services::ServeDir::new(root)),
        other => {
            eprintln!("servedir: {other:?} is neither files nor servedir");
            std::process::exit(2);
        }
    };
    let port: u16 = port.parse().expect("a port");
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("listen");
    axum::serve(listener, app).await.expect("serve");
}
