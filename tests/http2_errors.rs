//! HTTP/2 to the letter: each error RFC 9113 and RFC 7541 name gets its
//! code, as a connection or a stream error, over h2c and over TLS, with
//! frames built by hand; after each, a fresh connection is served. Then
//! the header timeout before a first request, and a graceful stop that a
//! slow download survives whole.

mod common;
use common::frames::*;
use common::tls::Ca;
use common::*;

use std::time::Duration;

/// A site served twice: in cleartext (h2c by prior knowledge) and over
/// TLS, with the same options.
struct Both {
    tree: Tree,
    servers: Vec<(TestServer, Target)>,
}

fn both(options: &[&str]) -> Both {
    let tree = Tree::new();
    tree.file("data.txt", "0123456789abcdefghij");
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["localhost"]).write(tree.path(), "localhost");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let mut args = vec!["--quiet"];
    args.extend_from_slice(options);
    let plain = TestServer::start(tree.path(), &args);
    args.extend_from_slice(&["--tls-cert", &cert, "--tls-key", &key]);
    let tls = TestServer::start(tree.path(), &args);
    let servers = vec![
        (Target::H2c(plain.addr), plain),
        (Target::Tls(tls.addr, ca.client_config(&[b"h2"])), tls),
    ]
    .into_iter()
    .map(|(target, server)| (server, target))
    .collect();
    Both { tree, servers }
}

impl Both {
    fn targets(&self) -> impl Iterator<Item = &Target> {
        self.servers.iter().map(|(_, target)| target)
    }
}

/// Sends `bytes` on a fresh connection and checks that the server ends it
/// with GOAWAY(`code`), then that it serves a fresh connection.
fn connection_error(target: &Target, what: &str, bytes: &[u8], code: u32) {
    let what = format!("{what} ({})", target.name());
    let mut raw = Raw::open(target.clone());
    raw.send(bytes);
    assert_eq!(raw.goaway_code(&what), code, "{what}");
    still_serves(target.clone());
}

/// Sends `bytes` and checks that the server resets `stream` with `code`,
/// then that the same connection serves the next stream.
fn stream_error(raw: &mut Raw, what: &str, bytes: &[u8], stream: u32, code: u32) -> u32 {
    raw.send(bytes);
    assert_eq!(raw.reset_code(stream, what), code, "{what}");
    let next = stream + 2;
    raw.send(&get(next, "/data.txt"));
    let (_, _, data) = raw
        .until(DATA, next)
        .unwrap_or_else(|| panic!("{what}: the connection served no more"));
    assert_eq!(data, b"0123456789abcdefghij", "{what}");
    next + 2
}

#[test]
fn frames_of_the_wrong_size_are_frame_size_errors() {
    let site = both(&[]);
    for target in site.targets() {
        // An open stream for the RST_STREAM to name.
        let mut reset = frame(HEADERS, END_HEADERS, 1, &get_block("/data.txt", &[]));
        reset.extend(frame(RST_STREAM, 0, 1, &[0, 0, 8]));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("PING of 7 bytes", frame(PING, 0, 0, &[0; 7])),
            ("PING of 9 bytes", frame(PING, 0, 0, &[0; 9])),
            (
                "SETTINGS of 5 bytes",
                frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 1]),
            ),
            (
                "SETTINGS ACK with a payload",
                frame(SETTINGS, ACK, 0, &[0, 3, 0, 0, 0, 100]),
            ),
            (
                "WINDOW_UPDATE of 3 bytes",
                frame(WINDOW_UPDATE, 0, 0, &[0, 0, 1]),
            ),
            (
                "WINDOW_UPDATE of 5 bytes",
                frame(WINDOW_UPDATE, 0, 0, &[0, 0, 0, 1, 0]),
            ),
            ("RST_STREAM of 3 bytes", reset),
            (
                "HEADERS too short for its priority fields",
                frame(HEADERS, 0x20 | END_HEADERS, 1, &[0, 0, 0]),
            ),
            (
                "HEADERS too short for its Pad Length",
                frame(HEADERS, 0x8 | END_HEADERS, 1, &[]),
            ),
        ];
        for (what, bytes) in cases {
            connection_error(target, what, &bytes, FRAME_SIZE_ERROR);
        }
    }
}

#[test]
fn a_priority_frame_of_the_wrong_size_resets_its_stream_only() {
    let site = both(&[]);
    for target in site.targets() {
        let mut raw = Raw::open(target.clone());
        let what = format!("PRIORITY of 4 bytes ({})", target.name());
        let next = stream_error(
            &mut raw,
            &what,
            &frame(PRIORITY, 0, 3, &[0, 0, 0, 1]),
            3,
            FRAME_SIZE_ERROR,
        );
        let what = format!("PRIORITY of 6 bytes ({})", target.name());
        stream_error(
            &mut raw,
            &what,
            &frame(PRIORITY, 0, next, &[0, 0, 0, 1, 16, 0]),
            next,
            FRAME_SIZE_ERROR,
        );
    }
}

#[test]
fn an_initial_window_over_the_maximum_is_a_flow_control_error() {
    let site = both(&[]);
    for target in site.targets() {
        // SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 2^31.
        let bytes = frame(SETTINGS, 0, 0, &[0, 4, 0x80, 0, 0, 0]);
        connection_error(target, "initial window 2^31", &bytes, FLOW_CONTROL_ERROR);
        // 2^31 - 1 is allowed.
        let mut raw = Raw::open(target.clone());
        raw.send(&frame(SETTINGS, 0, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]));
        raw.send(&get(1, "/data.txt"));
        raw.until(DATA, 1).expect("a window of 2^31-1 is served");
    }
}

#[test]
fn field_blocks_that_do_not_decode_are_compression_errors() {
    let site = both(&[]);
    for target in site.targets() {
        let block = |extra: &[u8]| {
            frame(
                HEADERS,
                END_STREAM | END_HEADERS,
                1,
                &get_block("/data.txt", extra),
            )
        };
        let huffman = |code: &[u8]| {
            let mut field = vec![0x00, 3, b'x', b'-', b'h', 0x80 | code.len() as u8];
            field.extend_from_slice(code);
            block(&field)
        };
        let mut update_after_field = vec![0x82, 0x20];
        update_after_field.extend(get_block("/data.txt", &[])[1..].iter());
        let mut update_too_large = vec![0x3f, 0xe2, 0x1f]; // size 4097
        update_too_large.extend(get_block("/data.txt", &[]));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("index beyond both tables", block(&[0x80 | 70])),
            ("index 0", block(&[0x80])),
            (
                "a block that ends inside a literal",
                block(&[0x00, 5, b'a', b'b']),
            ),
            ("a block that ends inside an integer", block(&[0xff])),
            // 'a' is 00011; the three bits after it must be ones.
            ("Huffman padding of zeros", huffman(&[0b0001_1000])),
            ("Huffman padding over 7 bits", huffman(&[0b0001_1111, 0xff])),
            ("Huffman EOS", huffman(&[0xff, 0xff, 0xff, 0xff])),
            (
                "table size update above the limit",
                frame(HEADERS, END_STREAM | END_HEADERS, 1, &update_too_large),
            ),
            (
                "table size update after a field",
                frame(HEADERS, END_STREAM | END_HEADERS, 1, &update_after_field),
            ),
        ];
        for (what, bytes) in cases {
            connection_error(target, what, &bytes, COMPRESSION_ERROR);
        }
    }
}

#[test]
fn the_first_frame_after_the_preface_must_be_settings() {
    // A long header timeout: the answer must come at once, not from it.
    let site = both(&["--header-timeout", "300s"]);
    for target in site.targets() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("HEADERS first", get(1, "/data.txt")),
            ("PING first", frame(PING, 0, 0, &[0; 8])),
            (
                "WINDOW_UPDATE first",
                frame(WINDOW_UPDATE, 0, 0, &[0, 0, 1, 0]),
            ),
            ("SETTINGS ACK first", frame(SETTINGS, ACK, 0, &[])),
        ];
        for (what, bytes) in cases {
            let what = format!("{what} ({})", target.name());
            let mut raw = Raw::bare(target.clone());
            let mut sent = PREFACE.to_vec();
            sent.extend(bytes);
            raw.send(&sent);
            assert_eq!(raw.goaway_code(&what), PROTOCOL_ERROR, "{what}");
            still_serves(target.clone());
        }
    }
}

/// A connection whose streams get no window: a response stays unsent, so
/// its stream stays half-closed (remote) for as long as the test needs.
fn without_window(target: &Target) -> Raw {
    let mut raw = Raw::open(target.clone());
    raw.send(&frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 0]));
    raw
}

#[test]
fn frames_on_a_half_closed_stream_get_stream_closed() {
    let site = both(&[]);
    for target in site.targets() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("DATA after END_STREAM", frame(DATA, 0, 1, b"late")),
            (
                "empty DATA after END_STREAM",
                frame(DATA, END_STREAM, 1, b""),
            ),
            (
                "HEADERS after END_STREAM",
                frame(
                    HEADERS,
                    END_STREAM | END_HEADERS,
                    1,
                    &literal("x-trailer", "1"),
                ),
            ),
        ];
        for (what, bytes) in cases {
            let what = format!("{what} ({})", target.name());
            let mut raw = without_window(target);
            raw.send(&get(1, "/data.txt"));
            raw.until(HEADERS, 1)
                .unwrap_or_else(|| panic!("{what}: no response head"));
            raw.send(&bytes);
            assert_eq!(raw.reset_code(1, &what), STREAM_CLOSED, "{what}");
            // The connection goes on: another stream, its window opened.
            raw.send(&get(3, "/data.txt"));
            raw.send(&frame(WINDOW_UPDATE, 0, 3, &1000u32.to_be_bytes()));
            let (_, _, data) = raw
                .until(DATA, 3)
                .unwrap_or_else(|| panic!("{what}: the connection served no more"));
            assert_eq!(data, b"0123456789abcdefghij", "{what}");
        }
    }
}

#[test]
fn field_values_http_forbids_reset_their_stream_only() {
    let site = both(&[]);
    for target in site.targets() {
        let name = target.name();
        let mut raw = Raw::open(target.clone());
        let mut id = 1;
        let values: [(&str, &[u8]); 7] = [
            ("a leading space", b" a"),
            ("a leading tab", b"\ta"),
            ("a trailing space", b"a "),
            ("a trailing tab", b"a\t"),
            ("NUL", b"a\0b"),
            ("CR", b"a\rb"),
            ("LF", b"a\nb"),
        ];
        for (what, value) in values {
            let what = format!("a value with {what} ({name})");
            let block = get_block("/data.txt", &literal_bytes("x-v", value));
            let bytes = frame(HEADERS, END_STREAM | END_HEADERS, id, &block);
            id = stream_error(&mut raw, &what, &bytes, id, PROTOCOL_ERROR);
        }
        // A field whose name comes from the static table (user-agent, 58).
        let mut field = vec![0x0f, 58 - 15, 3];
        field.extend_from_slice(b"a\rb");
        let bytes = frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &get_block("/data.txt", &field),
        );
        id = stream_error(&mut raw, "an indexed name", &bytes, id, PROTOCOL_ERROR);
        // Indexed into the dynamic table: a later reference to the entry
        // (62) is malformed as well, and the table stays in step.
        let mut field = vec![0x40, 3, b'x', b'-', b'v', 3];
        field.extend_from_slice(b"a\0b");
        let bytes = frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &get_block("/data.txt", &field),
        );
        id = stream_error(&mut raw, "indexed for later", &bytes, id, PROTOCOL_ERROR);
        let bytes = frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &get_block("/data.txt", &[0x80 | 62]),
        );
        id = stream_error(
            &mut raw,
            "the entry referred to",
            &bytes,
            id,
            PROTOCOL_ERROR,
        );
        // Inner spaces and tabs are fine.
        let block = get_block("/data.txt", &literal("x-v", "a b\tc"));
        raw.send(&frame(HEADERS, END_STREAM | END_HEADERS, id, &block));
        raw.until(DATA, id).expect("inner whitespace is allowed");
    }
}

#[test]
fn a_connection_without_requests_is_closed_at_the_header_timeout() {
    let site = both(&["--header-timeout", "1s", "--keepalive-timeout", "300s"]);
    for target in site.targets() {
        let what = format!("a silent connection ({})", target.name());
        let mut raw = Raw::open(target.clone());
        let started = std::time::Instant::now();
        // One GOAWAY naming no stream, then the end: no shutdown in two
        // steps waiting on a PING the client is not asked to answer.
        let mut goaways = Vec::new();
        while let Some((kind, _, _, payload)) = raw.next() {
            if kind == GOAWAY {
                goaways.push((error_code(&payload, 0), error_code(&payload, 4)));
            }
        }
        assert_eq!(goaways, [(0, NO_ERROR)], "{what}");
        assert!(started.elapsed() < PATIENCE, "{what}");
        still_serves(target.clone());
    }
}

/// A client that reads a download slowly through a small window, while
/// the server is told to stop: the download still arrives whole. The
/// client sends WINDOW_UPDATE for each DATA frame as it reads it, so some
/// arrive after the server has written its last frame, while much of the
/// download is still in the kernel's buffers on the way.
fn slow_download_survives_shutdown(tls: bool) {
    let site = both(&["--shutdown-grace", "120s"]);
    let size = 5 * 1024 * 1024;
    site.tree.file("big.bin", vec![b'z'; size]);
    let (server, target) = &site.servers[usize::from(tls)];
    let mut raw = Raw::open(target.clone());
    // Windows of 1 MiB: the server writes far ahead of a reader this slow,
    // so its kernel holds much of the download when it closes.
    let window = 1024 * 1024u32;
    let mut settings = vec![0, 4];
    settings.extend_from_slice(&window.to_be_bytes());
    raw.send(&frame(SETTINGS, 0, 0, &settings));
    raw.send(&frame(WINDOW_UPDATE, 0, 0, &(window - 65535).to_be_bytes()));
    raw.slowly(4096, Duration::from_millis(1));
    raw.send(&get(1, "/big.bin"));
    let mut got = 0;
    let mut told = false;
    let mut ended = false;
    while let Some((kind, flags, stream, payload)) = raw.next() {
        match kind {
            DATA if stream == 1 => {
                got += payload.len();
                if !payload.is_empty() {
                    let n = (payload.len() as u32).to_be_bytes();
                    raw.send(&frame(WINDOW_UPDATE, 0, 0, &n));
                    raw.send(&frame(WINDOW_UPDATE, 0, 1, &n));
                }
                if !told {
                    server.signal("TERM");
                    told = true;
                }
                if flags & END_STREAM != 0 {
                    ended = true;
                }
            }
            PING if flags & ACK == 0 => {
                raw.send(&frame(PING, ACK, 0, &payload));
            }
            RST_STREAM if stream == 1 => panic!("the download was reset"),
            _ => {}
        }
    }
    assert_eq!(got, size, "bytes received ({})", target.name());
    assert!(ended, "the stream ended ({})", target.name());
}

#[test]
fn shutdown_lets_a_slow_h2c_download_finish_whole() {
    slow_download_survives_shutdown(false);
}

#[test]
fn shutdown_lets_a_slow_h2_download_over_tls_finish_whole() {
    slow_download_survives_shutdown(true);
}
