/* firmware_bridge protocol, device side: COBS framing, CRC-32C, header and message layouts.
 * Portable C99, no dynamic memory, no OS calls. The byte layouts are specified in ../PROTOCOL.md;
 * everything on the wire is little-endian. */
#ifndef FWB_PROTOCOL_H
#define FWB_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define FWB_PROTOCOL_VERSION 1u
#define FWB_HEADER_SIZE 16u
#define FWB_CRC_SIZE 4u
#define FWB_MAX_PAYLOAD 4096u /* header + body + CRC */
#define FWB_MAX_BODY (FWB_MAX_PAYLOAD - FWB_HEADER_SIZE - FWB_CRC_SIZE)
/* 0x00 + COBS(payload) + 0x00; COBS adds one byte per 254 plus one. */
#define FWB_MAX_WIRE (FWB_MAX_PAYLOAD + FWB_MAX_PAYLOAD / 254u + 1u + 2u)

enum fwb_msg_type {
    FWB_MSG_IMU_BATCH = 0x01,
    FWB_MSG_AUDIO_CHUNK = 0x02,
    FWB_MSG_HEARTBEAT = 0x03,
    FWB_MSG_TIME_SYNC_REQUEST = 0x10,
    FWB_MSG_TIME_SYNC_RESPONSE = 0x11,
    FWB_MSG_CONFIG_COMMAND = 0x20,
    FWB_MSG_CONFIG_ACK = 0x21
};

enum fwb_sample_format { FWB_FORMAT_INT16 = 1, FWB_FORMAT_FLOAT32 = 2 };

enum fwb_config_key {
    FWB_KEY_STREAMING = 1,
    FWB_KEY_IMU_RATE_HZ = 2,
    FWB_KEY_IMU_BATCH_SAMPLES = 3,
    FWB_KEY_HEARTBEAT_PERIOD_MS = 4,
    FWB_KEY_AUDIO_RATE_HZ = 5
};

enum fwb_ack_status { FWB_ACK_OK = 0, FWB_ACK_UNKNOWN_KEY = 1, FWB_ACK_BAD_VALUE = 2 };

enum fwb_parse_result {
    FWB_PARSE_OK = 0,
    FWB_PARSE_COBS_ERROR = -1,
    FWB_PARSE_TOO_SHORT = -2,
    FWB_PARSE_CRC_ERROR = -3,
    FWB_PARSE_TOO_LONG = -4,
    FWB_PARSE_HEADER_ERROR = -5
};

typedef struct {
    uint8_t version;         /* FWB_PROTOCOL_VERSION */
    uint8_t msg_type;        /* enum fwb_msg_type */
    uint8_t device_id;       /* sender (device to host) or addressee (host to device) */
    uint8_t flags;           /* reserved, 0 */
    uint16_t seq;            /* per-sender frame counter, wraps at 65536 */
    uint16_t body_len;       /* bytes of body after the header */
    uint64_t device_time_us; /* device clock at send time; 0 in host-to-device frames */
} fwb_header_t;

/* Little-endian field access. */
void fwb_put_u16(uint8_t *p, uint16_t v);
void fwb_put_u32(uint8_t *p, uint32_t v);
void fwb_put_u64(uint8_t *p, uint64_t v);
void fwb_put_f32(uint8_t *p, float v);
uint16_t fwb_get_u16(const uint8_t *p);
uint32_t fwb_get_u32(const uint8_t *p);
uint64_t fwb_get_u64(const uint8_t *p);

/* CRC-32C (Castagnoli, reflected 0x82F63B78, init and final XOR 0xFFFFFFFF); pass crc = 0 to start. */
uint32_t fwb_crc32c(const uint8_t *data, size_t len, uint32_t crc);

/* COBS-encode len bytes into dst (room for len + len / 254 + 1); returns the encoded length. */
size_t fwb_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst);
/* Decode one block without delimiters; returns the decoded length or -1 if it is not valid COBS or
 * does not fit in cap bytes. */
long fwb_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

/* Build the wire form 0x00 + COBS(header + body + CRC) + 0x00 into wire (FWB_MAX_WIRE bytes);
 * header->body_len and header->version are filled in. Returns the wire length, 0 if the body is too long.
 * Not reentrant (uses one static scratch buffer). */
size_t fwb_build_frame(fwb_header_t *header, const uint8_t *body, size_t body_len, uint8_t *wire);

/* Check the CRC and header of a decoded payload; on success fill header and point *body at the body. */
int fwb_parse_payload(const uint8_t *payload, size_t len, fwb_header_t *header, const uint8_t **body);

/* Receiver for host-to-device frames: feed bytes one at a time. */
typedef struct {
    uint8_t encoded[FWB_MAX_WIRE]; /* bytes since the last delimiter */
    size_t len;                    /* bytes held in encoded */
    int overflow;                  /* a run longer than a frame: drop until the next delimiter */
    uint8_t payload[FWB_MAX_PAYLOAD];
    uint32_t errors; /* fragments rejected (COBS, CRC, length, header) */
} fwb_rx_t;

void fwb_rx_init(fwb_rx_t *rx);
/* Returns 1 when byte completed a valid frame (then header/body are set, body points into rx), else 0. */
int fwb_rx_feed(fwb_rx_t *rx, uint8_t byte, fwb_header_t *header, const uint8_t **body);

#endif /* FWB_PROTOCOL_H */
