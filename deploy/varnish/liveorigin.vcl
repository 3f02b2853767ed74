# liveorigin behind Varnish (Varnish 7.1, Debian 12's package; VCL 4.1; no VMOD beyond std).
#
# What this configuration does, and why (docs/cdn.md):
# - Lifetimes from the origin's `Cache-TTL-Ms`, to the millisecond, for every status the
#   origin sends (200, 404 "too early", 410, 503 "shed"): a 404 for a future segment expires
#   exactly when the origin starts holding requests for it.
# - `CDN-Cache-Control` (RFC 9213) wins over `Cache-Control` for this cache; `no-store`
#   there means not cached. `Cache-Control: no-store` alone does not stop this cache when
#   the origin gave a TTL: it is meant for browsers (a shed 503 is kept 5 s here, never by
#   a player).
# - No grace, no keep: nothing is served after its lifetime, so a 404 never outlives the
#   moment its segment is held, and a manifest is never older than the origin allows.
# - Held requests are coalesced by Varnish's waiting list: while one fetch of an object is
#   in flight (held at the origin until the segment commits), every other request for it
#   waits in the cache and gets the same answer. One origin request per object per cache.
# - LL-HLS `_HLS_msn` / `_HLS_part` (and `_HLS_skip`) stay in the URL and so in the cache
#   key; every other query parameter is dropped (players add cache busters).
# - No retries: a failed or refused fetch is answered, not repeated; a shed 503 is cached
#   for its 5 s, a fetch that failed without an answer for 1 s.
vcl 4.1;

import std;

# The origin's delivery listener. Replace host and port (or use a director) in production.
backend liveorigin {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    # A held request is answered by A(N) + R at the latest (R = 2·D by default): keep
    # this above 3·D plus the origin's slowest read.
    .first_byte_timeout = 60s;
    .between_bytes_timeout = 10s;
}

sub vcl_recv {
    if (req.method != "GET" && req.method != "HEAD") {
        # Preflights, writes and anything else go to the origin uncached.
        return (pass);
    }
    # The time source players sync to must be the origin's clock now, never a cached one.
    if (req.url ~ "^/\.well-known/time(\?|$)") {
        return (pass);
    }
    if (req.url ~ "\?") {
        if (req.url ~ "\.m3u8\?") {
            # Keep only the LL-HLS delivery directives, sorted: they choose the answer.
            set req.url = regsuball(req.url, "([?&])(?!_HLS_)[^&]*", "\1");
            set req.url = regsuball(req.url, "&{2,}", "&");
            set req.url = regsub(req.url, "\?&+", "?");
            set req.url = regsub(req.url, "[?&]+$", "");
            set req.url = std.querysort(req.url);
        } else {
            set req.url = regsub(req.url, "\?.*$", "");
        }
    }
    # Delivery is the same for every viewer: no cookie or credential makes an answer private.
    unset req.http.Cookie;
    return (hash);
}

sub vcl_backend_fetch {
    # One fetch per object; the cache's own key decides, not the viewer's headers.
    unset bereq.http.Cookie;
}

sub vcl_backend_response {
    set beresp.grace = 0s;
    set beresp.keep = 0s;
    if (beresp.http.CDN-Cache-Control ~ "(?i)(no-store|private)") {
        set beresp.ttl = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    if (beresp.http.Cache-TTL-Ms ~ "^[0-9]+$") {
        set beresp.ttl = std.duration(beresp.http.Cache-TTL-Ms + "ms", 0s);
    } elsif (beresp.http.CDN-Cache-Control ~ "(?i)max-age=[0-9]+") {
        set beresp.ttl = std.duration(regsub(beresp.http.CDN-Cache-Control, "(?i)^.*max-age=([0-9]+).*$", "\1") + "s", 0s);
    } elsif (beresp.http.Cache-Control ~ "(?i)(no-store|no-cache|private)") {
        set beresp.ttl = 0s;
    }
    # Otherwise Varnish's own reading of Cache-Control / Expires stands.
    if (beresp.ttl <= 0s) {
        # Not cached; requests waiting for this object go to the origin each (the origin
        # answers them at once: nothing with a zero lifetime is held).
        set beresp.uncacheable = true;
        set beresp.ttl = 0s;
    }
    # Skip the built-in rules: they refuse to cache `Cache-Control: no-store` (the shed 503
    # is cached here on purpose) and would keep hit-for-miss objects for 2 minutes.
    return (deliver);
}

sub vcl_backend_error {
    # The origin could not be reached or did not answer in time: answer 503 and keep it 1 s,
    # so that a dead origin gets one request per object per second from this cache.
    set beresp.http.Content-Type = "application/json";
    set beresp.http.Cache-Control = "no-store";
    set beresp.http.CDN-Cache-Control = "max-age=1";
    set beresp.http.Cache-TTL-Ms = "1000";
    set beresp.http.Retry-After = "1";
    set beresp.http.Access-Control-Allow-Origin = "*";
    set beresp.ttl = 1s;
    set beresp.grace = 0s;
    set beresp.keep = 0s;
    synthetic({"{"error": {"code": "CDN_ORIGIN_UNREACHABLE", "message": "the origin did not answer" } }"});
    return (deliver);
}

sub vcl_deliver {
    # What is left of the lifetime, for the next cache or player down the line.
    if (obj.ttl > 0s) {
        set resp.http.Cache-TTL-Ms = std.integer(real=std.real(duration=obj.ttl) * 1000, fallback=0);
    } elsif (resp.http.Cache-TTL-Ms) {
        set resp.http.Cache-TTL-Ms = "0";
    }
    # When this cache drops the object (epoch ms): what `curl -sI` shows to check a deployment.
    if (obj.ttl > 0s) {
        set resp.http.X-Cache-Expires = std.integer(real=(std.real(time=now) + std.real(duration=obj.ttl)) * 1000, fallback=0);
    }
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    set resp.http.X-Cache-Hits = obj.hits;
}
