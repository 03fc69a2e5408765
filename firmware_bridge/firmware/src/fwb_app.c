/* Reference device application (see fwb_app.h). All state is static, as on a microcontroller. */
#include "fwb_app.h"

#include <string.h>

#include "fwb_hal.h"
#include "fwb_protocol.h"

#define MAX_BATCH 128u
#define MAX_AUDIO_CHUNK 1024u
#define IMU_FIXED 8u /* n_samples u16, n_channels u8, format u8, period_us u32 */

static fwb_app_config_t cfg;
static fwb_rx_t rx;
static uint8_t wire[FWB_MAX_WIRE];
static uint8_t body[FWB_MAX_BODY];
static uint16_t seq;
static uint32_t frames_sent;
static uint64_t samples_sent;   /* samples put into sent batches */
static uint64_t stream_start_us; /* device time of sample 0 of the current stream */
static uint64_t stream_index;    /* samples taken in the current stream */
static uint64_t next_heartbeat_us;
static int16_t batch[MAX_BATCH][FWB_IMU_CHANNELS];
static uint16_t batch_len;
static uint64_t batch_time_us;
static int16_t audio[MAX_AUDIO_CHUNK];
static uint16_t audio_len;
static uint64_t audio_index; /* audio samples taken in the current stream */
static uint64_t audio_time_us;

static void send(uint8_t msg_type, uint64_t device_time_us, size_t body_len) {
    fwb_header_t header = {0};
    header.msg_type = msg_type;
    header.device_id = cfg.device_id;
    header.seq = seq++;
    header.device_time_us = device_time_us;
    size_t n = fwb_build_frame(&header, body, body_len, wire);
    if (n) {
        hal_uart_write(wire, n);
        frames_sent++;
    }
}

static uint32_t period_us(void) { return 1000000u / cfg.imu_rate_hz; }

static uint64_t sample_due_us(uint64_t index) {
    return stream_start_us + index * 1000000u / cfg.imu_rate_hz; /* no accumulated rounding */
}

static void send_batch(void) {
    fwb_put_u16(body, batch_len);
    body[2] = FWB_IMU_CHANNELS;
    body[3] = FWB_FORMAT_INT16;
    fwb_put_u32(body + 4, period_us());
    size_t k = IMU_FIXED;
    for (int c = 0; c < FWB_IMU_CHANNELS; ++c, k += 4) fwb_put_f32(body + k, c < 3 ? cfg.accel_scale : cfg.gyro_scale);
    for (uint16_t i = 0; i < batch_len; ++i)
        for (int c = 0; c < FWB_IMU_CHANNELS; ++c, k += 2) fwb_put_u16(body + k, (uint16_t)batch[i][c]);
    send(FWB_MSG_IMU_BATCH, batch_time_us, k);
    samples_sent += batch_len;
    batch_len = 0;
}

static uint64_t audio_due_us(uint64_t index) {
    return stream_start_us + index * 1000000u / cfg.audio_rate_hz;
}

static void send_audio(void) {
    fwb_put_u16(body, audio_len);
    body[2] = 1; /* mono */
    body[3] = 0;
    fwb_put_u32(body + 4, cfg.audio_rate_hz);
    for (uint16_t i = 0; i < audio_len; ++i) fwb_put_u16(body + 8 + 2u * i, (uint16_t)audio[i]);
    send(FWB_MSG_AUDIO_CHUNK, audio_time_us, 8u + 2u * audio_len);
    audio_len = 0;
}

static void send_heartbeat(uint64_t now) {
    fwb_put_u32(body, frames_sent + 1u); /* counts this heartbeat too */
    fwb_put_u32(body + 4, 0u);           /* nothing is ever dropped: the UART write blocks */
    fwb_put_u32(body + 8, rx.errors);
    fwb_put_u16(body + 12, cfg.streaming ? 1u : 0u);
    fwb_put_u16(body + 14, 0u);
    send(FWB_MSG_HEARTBEAT, now, 16);
}

static void start_stream(uint64_t now) {
    stream_start_us = now;
    stream_index = 0;
    batch_len = 0;
    audio_index = 0;
    audio_len = 0;
}

static uint8_t apply_config(uint8_t key, uint32_t value, uint64_t now) {
    switch (key) {
        case FWB_KEY_STREAMING:
            if (value > 1u) return FWB_ACK_BAD_VALUE;
            if (value && !cfg.streaming) start_stream(now);
            if (!value && batch_len) send_batch();
            if (!value && audio_len) send_audio();
            cfg.streaming = (uint8_t)value;
            return FWB_ACK_OK;
        case FWB_KEY_IMU_RATE_HZ:
            if (value < 1u || value > 100000u) return FWB_ACK_BAD_VALUE;
            cfg.imu_rate_hz = value;
            if (batch_len) send_batch();
            start_stream(now);
            return FWB_ACK_OK;
        case FWB_KEY_IMU_BATCH_SAMPLES:
            if (value < 1u || value > MAX_BATCH) return FWB_ACK_BAD_VALUE;
            if (batch_len) send_batch();
            cfg.batch_samples = (uint16_t)value;
            return FWB_ACK_OK;
        case FWB_KEY_HEARTBEAT_PERIOD_MS:
            cfg.heartbeat_ms = value;
            next_heartbeat_us = now + (uint64_t)value * 1000u;
            return FWB_ACK_OK;
        case FWB_KEY_AUDIO_RATE_HZ:
            if (value > 48000u) return FWB_ACK_BAD_VALUE;
            if (audio_len) send_audio();
            cfg.audio_rate_hz = value;
            audio_index = cfg.audio_rate_hz ? (now > stream_start_us ? (now - stream_start_us) * value / 1000000u : 0u) : 0u;
            return FWB_ACK_OK;
        default:
            return FWB_ACK_UNKNOWN_KEY;
    }
}

static uint32_t current_value(uint8_t key) {
    switch (key) {
        case FWB_KEY_STREAMING: return cfg.streaming;
        case FWB_KEY_IMU_RATE_HZ: return cfg.imu_rate_hz;
        case FWB_KEY_IMU_BATCH_SAMPLES: return cfg.batch_samples;
        case FWB_KEY_HEARTBEAT_PERIOD_MS: return cfg.heartbeat_ms;
        case FWB_KEY_AUDIO_RATE_HZ: return cfg.audio_rate_hz;
        default: return 0u;
    }
}

static void handle_frame(const fwb_header_t *h, const uint8_t *b, uint64_t rx_time) {
    if (h->device_id != cfg.device_id && h->device_id != 0xFFu) return; /* 0xFF: broadcast */
    if (h->msg_type == FWB_MSG_TIME_SYNC_REQUEST && h->body_len == 12) {
        memmove(body, b, 12); /* request_id u32, host_time_us u64 echoed */
        fwb_put_u64(body + 12, rx_time);
        send(FWB_MSG_TIME_SYNC_RESPONSE, hal_time_us(), 20);
    } else if (h->msg_type == FWB_MSG_CONFIG_COMMAND && h->body_len == 8) {
        uint16_t command_id = fwb_get_u16(b);
        uint8_t key = b[2];
        uint8_t status = apply_config(key, fwb_get_u32(b + 4), rx_time);
        fwb_put_u16(body, command_id);
        body[2] = key;
        body[3] = status;
        fwb_put_u32(body + 4, current_value(key));
        send(FWB_MSG_CONFIG_ACK, hal_time_us(), 8);
    } else {
        rx.errors++; /* a valid frame this device does not accept */
    }
}

void fwb_app_init(const fwb_app_config_t *config) {
    cfg = *config;
    if (cfg.imu_rate_hz < 1u) cfg.imu_rate_hz = 1u;
    if (cfg.batch_samples < 1u || cfg.batch_samples > MAX_BATCH) cfg.batch_samples = MAX_BATCH;
    if (cfg.audio_chunk < 1u || cfg.audio_chunk > MAX_AUDIO_CHUNK) cfg.audio_chunk = 256u;
    if (cfg.audio_rate_hz > 48000u) cfg.audio_rate_hz = 48000u;
    fwb_rx_init(&rx);
    seq = 0;
    frames_sent = 0;
    samples_sent = 0;
    uint64_t now = hal_time_us();
    start_stream(now);
    next_heartbeat_us = now + (uint64_t)cfg.heartbeat_ms * 1000u;
}

uint64_t fwb_app_poll(void) {
    uint8_t in[256];
    size_t n;
    while ((n = hal_uart_read(in, sizeof in)) > 0) {
        uint64_t rx_time = hal_time_us();
        for (size_t i = 0; i < n; ++i) {
            fwb_header_t h;
            const uint8_t *b;
            if (fwb_rx_feed(&rx, in[i], &h, &b)) handle_frame(&h, b, rx_time);
        }
    }
    uint64_t now = hal_time_us();
    if (cfg.heartbeat_ms && now >= next_heartbeat_us) {
        send_heartbeat(now);
        next_heartbeat_us = now + (uint64_t)cfg.heartbeat_ms * 1000u;
    }
    if (!cfg.streaming) return UINT64_MAX;
    uint64_t next_audio = UINT64_MAX;
    if (cfg.audio_rate_hz) {
        while (audio_due_us(audio_index) <= now) {
            if (audio_len == 0) audio_time_us = audio_due_us(audio_index);
            audio[audio_len++] = hal_audio_read();
            audio_index++;
            if (audio_len >= cfg.audio_chunk) send_audio();
        }
        next_audio = audio_due_us(audio_index);
    }
    int imu_done = cfg.max_samples && samples_sent + batch_len >= cfg.max_samples;
    while (!imu_done && sample_due_us(stream_index) <= now) {
        if (batch_len == 0) batch_time_us = sample_due_us(stream_index);
        hal_imu_read(batch[batch_len++]);
        stream_index++;
        if (batch_len >= cfg.batch_samples) send_batch();
        imu_done = cfg.max_samples && samples_sent + batch_len >= cfg.max_samples;
    }
    if (imu_done) {
        if (batch_len) send_batch();
        if (!cfg.audio_rate_hz) {
            cfg.streaming = 0;
            return UINT64_MAX;
        }
        return next_audio;
    }
    uint64_t next_imu = sample_due_us(stream_index);
    return next_imu < next_audio ? next_imu : next_audio;
}

uint64_t fwb_app_samples_sent(void) { return samples_sent; }
