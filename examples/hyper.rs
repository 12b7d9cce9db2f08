//! henaserver's file service in a plain hyper 1.x server, without tower:
//! `cargo run --example hyper -- ROOT PORT`.

use std::convert::Infallible;
use std::net::SocketAddr;

use henaserver::Files;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(root), Some(port)) = (args.next(), args.next()) else {
        eprintln!("usage: hyper ROOT PORT");
        std::process::exit(2);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("hyper: {port:?} is not a port");
        std::process::exit(2);
    };
    let files = match Files::try_new(&root) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("hyper: {e}");
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap_or_else(|e| {
            eprintln!("hyper: cannot listen on port {port}: {e}");
            std::process::exit(1);
        });
    println!(
        "serving {root} at http://{}/",
        listener.local_addr().unwrap()
    );
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let files = files.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let files = files.clone();
                async move { Ok::<_, Infallible>(files.serve(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
