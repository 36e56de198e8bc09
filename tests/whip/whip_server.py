"""A WHIP endpoint for the tests: aiohttp in front of aiortc, on 127.0.0.1.

POST /whip/NAME with an SDP offer -> 201, the answer and a Location; DELETE on that location
ends the session. What the receiver decodes is summed up in a JSON file (rewritten every
half second and at each DELETE): frames, picture size, the sync square's times, the beep's
onsets, the audio's rate, the codecs of the answer, decode errors, requests seen.

The square's and the beep's times are on the sender's clock, as a browser lines tracks up:
each track's RTP time through the NTP/RTP pair of that track's RTCP sender reports (RFC 3550
6.4.1), in seconds from the first video report. (aiortc's frame pts starts each track at 0,
which says nothing about how the tracks line up.)

Options: --token (401 for another), --relay-drop N (media goes through a UDP relay that drops
every Nth video RTP packet from the client), --fail-posts N (the first N offers get 503),
--end-after S (the first session is closed by the server S seconds after its offer: DTLS
close_notify, as a server ending a publisher does). POST /whip/moved/NAME answers 307 to
/whip/NAME (counted in "redirects").
aiortc gathers no loopback candidates; it is made to use 127.0.0.1 only, so that no packet
leaves the machine.
"""

import argparse
import asyncio
import fractions
import json
import logging
import os
import signal
import sys

import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

from aiohttp import web  # noqa: E402
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402
from aiortc.rtcrtpreceiver import RTCRtpReceiver  # noqa: E402
from aiortc.rtp import RtcpSrPacket  # noqa: E402

# The first RTCP sender report of each receiver: (NTP time in seconds, RTP time).
SENDER_REPORTS = {}
_handle_rtcp_packet = RTCRtpReceiver._handle_rtcp_packet


async def _remember_sender_report(self, packet):
    if isinstance(packet, RtcpSrPacket) and self not in SENDER_REPORTS:
        info = packet.sender_info
        SENDER_REPORTS[self] = (info.ntp_timestamp / 2**32, info.rtp_timestamp)
    await _handle_rtcp_packet(self, packet)


RTCRtpReceiver._handle_rtcp_packet = _remember_sender_report


def rtp_origin(receiver):
    """The RTP time aiortc's frame pts counts from (the track's first packet)."""
    return receiver._RTCRtpReceiver__timestamp_mapper._origin


def sender_time(receiver, rtp, rate):
    """RTP time -> the sender's NTP time in seconds, through the track's sender report."""
    ntp, sr_rtp = SENDER_REPORTS[receiver]
    delta = (rtp - sr_rtp) % 2**32
    if delta >= 2**31:
        delta -= 2**32
    return ntp + delta / rate

BEEP_THRESHOLD = 2700  # a third of the test tone's amplitude
DRAIN_SECONDS = 0.5  # a DELETE closes the connection this long after it came


class DecodeErrors(logging.Handler):
    """Counts aiortc's decoder complaints (a frame that could not be decoded)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0
        self.messages = []

    def emit(self, record):
        self.count += 1
        if len(self.messages) < 10:
            self.messages.append(record.getMessage())


class Summary:
    def __init__(self, path, errors):
        self.path = path
        self.errors = errors
        self.data = {
            "posts": 0,
            "refused": 0,
            "deletes": 0,
            "sessions": 0,
            "video_frames": 0,
            "video_size": None,
            "video_marks": [],
            "audio_frames": 0,
            "audio_rate": None,
            "audio_channels": None,
            "audio_onsets": [],
            "answer_codecs": [],
            "offer_profile": None,
            "decode_errors": 0,
            "decode_messages": [],
            "relay_dropped": 0,
            "relay_forwarded": 0,
            "relay_resent": 0,
            "redirects": 0,
            "ended_by_server": 0,
        }
        # (receiver, RTP time, clock rate) of each square and each beep onset, and the video
        # receiver whose first sender report is time 0.
        self.raw_marks = []
        self.raw_onsets = []
        self.zero_receiver = None

    def sender_times(self, raw):
        out = []
        for receiver, rtp, rate in raw:
            if receiver in SENDER_REPORTS and self.zero_receiver in SENDER_REPORTS:
                zero = SENDER_REPORTS[self.zero_receiver][0]
                out.append(sender_time(receiver, rtp, rate) - zero)
        return out

    def write(self):
        self.data["video_marks"] = self.sender_times(self.raw_marks)
        self.data["audio_onsets"] = self.sender_times(self.raw_onsets)
        self.data["decode_errors"] = self.errors.count
        self.data["decode_messages"] = self.errors.messages
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)


class Relay(asyncio.DatagramProtocol):
    """Client <-> relay port <-> aiortc; drops every Nth video RTP packet from the client."""

    def __init__(self, target, drop_every, summary):
        self.target = target
        self.drop_every = drop_every
        self.summary = summary
        self.client = None
        self.video = 0
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if addr == self.target:
            if self.client is not None:
                self.transport.sendto(data, self.client)
            return
        self.client = addr
        # RTP (RFC 7983: first byte 128..191) with the H.264 payload type the client offers
        # (102), or its retransmission payload type (103, RFC 4588), which is never dropped.
        if len(data) > 12 and 128 <= data[0] <= 191:
            pt = data[1] & 0x7F
            if pt == 102:
                self.video += 1
                if self.drop_every and self.video % self.drop_every == 0:
                    self.summary.data["relay_dropped"] += 1
                    return
            elif pt == 103:
                self.summary.data["relay_resent"] += 1
        self.summary.data["relay_forwarded"] += 1
        self.transport.sendto(data, self.target)


def rewrite_candidates(sdp, port):
    """The SDP's candidates replaced by one host candidate at 127.0.0.1:port."""
    out, done = [], set()
    mid = 0
    for line in sdp.splitlines():
        if line.startswith("m="):
            mid += 1
        if line.startswith("a=candidate:"):
            if mid not in done:
                done.add(mid)
                out.append(f"a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host")
            continue
        if line.startswith("c=IN IP4"):
            line = "c=IN IP4 127.0.0.1"
        if line.startswith("m=") and mid:
            parts = line.split(" ")
            parts[1] = str(port)
            line = " ".join(parts)
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def strip_candidates(sdp):
    return "\r\n".join(l for l in sdp.splitlines() if not l.startswith("a=candidate:")) + "\r\n"


async def watch_video(track, receiver, summary):
    import numpy as np

    if summary.zero_receiver is None:
        summary.zero_receiver = receiver
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        summary.data["video_frames"] += 1
        summary.data["video_size"] = [frame.width, frame.height]
        side = frame.height // 8 - 2
        y = frame.to_ndarray(format="gray")[:side, :side]
        if float(np.mean(y)) > 128:
            assert frame.time_base == fractions.Fraction(1, 90000), frame.time_base
            rtp = rtp_origin(receiver) + frame.pts
            summary.raw_marks.append((receiver, rtp, 90000))


async def watch_audio(track, receiver, summary):
    import numpy as np

    loud = False
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        summary.data["audio_frames"] += 1
        summary.data["audio_rate"] = frame.sample_rate
        summary.data["audio_channels"] = len(frame.layout.channels)
        samples = frame.to_ndarray().reshape(-1)  # s16, interleaved
        left = samples[:: len(frame.layout.channels)]
        above = np.nonzero(np.abs(left.astype(np.int32)) > BEEP_THRESHOLD)[0]
        if len(above) and not loud:
            assert frame.time_base == fractions.Fraction(1, frame.sample_rate), frame.time_base
            rtp = rtp_origin(receiver) + frame.pts + int(above[0])
            summary.raw_onsets.append((receiver, rtp, frame.sample_rate))
        # The beep lasts 100 ms: quiet for a whole frame ends it.
        loud = bool(len(above))


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--token")
    ap.add_argument("--relay-drop", type=int, default=0)
    ap.add_argument("--fail-posts", type=int, default=0)
    ap.add_argument("--end-after", type=float, default=0)
    args = ap.parse_args()

    errors = DecodeErrors()
    for name in ("aiortc.codecs.h264", "aiortc.codecs.opus", "aiortc.rtcrtpreceiver"):
        logging.getLogger(name).addHandler(errors)
    summary = Summary(args.out, errors)
    sessions = {}

    async def post(request):
        summary.data["posts"] += 1
        if args.token is not None and request.headers.get("Authorization") != f"Bearer {args.token}":
            summary.data["refused"] += 1
            summary.write()
            return web.Response(status=401, text="bad token")
        if summary.data["posts"] <= args.fail_posts:
            return web.Response(status=503, text="warming up")
        if request.content_type != "application/sdp":
            return web.Response(status=415)
        offer = await request.text()
        for line in offer.splitlines():
            if "profile-level-id=" in line:
                summary.data["offer_profile"] = line.split("profile-level-id=")[1].split(";")[0]
        pc = RTCPeerConnection()
        summary.data["sessions"] += 1
        sid = str(summary.data["sessions"])  # never reused, even after a session ended
        sessions[sid] = pc

        @pc.on("track")
        def on_track(track):
            watch = watch_video if track.kind == "video" else watch_audio
            receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
            asyncio.ensure_future(watch(track, receiver, summary))

        relay = None
        if args.relay_drop:
            offer = strip_candidates(offer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = pc.localDescription.sdp
        if args.relay_drop:
            port = int([l for l in answer.splitlines() if l.startswith("a=candidate:")][0].split()[5])
            loop = asyncio.get_running_loop()
            relay_transport, _ = await loop.create_datagram_endpoint(
                lambda: Relay(("127.0.0.1", port), args.relay_drop, summary),
                local_addr=("127.0.0.1", 0),
            )
            relay = relay_transport
            answer = rewrite_candidates(answer, relay_transport.get_extra_info("sockname")[1])
        pc._relay = relay
        if args.end_after and sid == "1":

            async def end_session():
                await asyncio.sleep(args.end_after)
                if sessions.pop(sid, None) is not None:
                    summary.data["ended_by_server"] += 1
                    await pc.close()
                    summary.write()

            asyncio.ensure_future(end_session())
        for line in answer.splitlines():
            if line.startswith("a=rtpmap:"):
                summary.data["answer_codecs"].append(line.split(" ", 1)[1])
        summary.write()
        return web.Response(
            status=201,
            text=answer,
            content_type="application/sdp",
            headers={"Location": f"session/{sid}"},
        )

    async def moved(request):
        summary.data["redirects"] += 1
        return web.Response(status=307, headers={"Location": f"/whip/{request.match_info['name']}"})

    async def delete(request):
        pc = sessions.pop(request.match_info["sid"], None)
        if pc is None:
            return web.Response(status=404)
        summary.data["deletes"] += 1
        # What arrived just before is still being decoded (aiortc's decoder thread): let it
        # finish before the connection closes.
        await asyncio.sleep(DRAIN_SECONDS)
        await pc.close()
        if pc._relay is not None:
            pc._relay.close()
        summary.write()
        return web.Response(status=200)

    async def flush():
        while True:
            await asyncio.sleep(0.5)
            summary.write()

    app = web.Application()
    app.router.add_post("/whip/moved/{name}", moved)
    app.router.add_post("/whip/{name}", post)
    app.router.add_delete("/whip/session/{sid}", delete)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    asyncio.ensure_future(flush())
    summary.write()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for pc in sessions.values():
        await pc.close()
    summary.write()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
