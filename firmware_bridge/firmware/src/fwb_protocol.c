/* COBS framing, CRC-32C, header packing and the frame receiver. See fwb_protocol.h. */
#include "fwb_protocol.h"

#include <string.h>

void fwb_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void fwb_put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = (uint8_t)(v >> (8 * i));
}

void fwb_put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = (uint8_t)(v >> (8 * i));
}

void fwb_put_f32(uint8_t *p, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits); /* IEEE 754 binary32 assumed, as on every supported target */
    fwb_put_u32(p, bits);
}

uint16_t fwb_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

uint32_t fwb_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint64_t fwb_get_u64(const uint8_t *p) {
    return (uint64_t)fwb_get_u32(p) | ((uint64_t)fwb_get_u32(p + 4) << 32);
}

/* Bitwise CRC-32C: small code for microcontrollers; a table version is faster where flash allows. */
uint32_t fwb_crc32c(const uint8_t *data, size_t len, uint32_t crc) {
    crc = ~crc;
    for (size_t i = 0; i < len; ++i) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; ++bit) crc = (crc & 1u) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

size_t fwb_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst) {
    size_t out = 1, code_index = 0;
    uint8_t code = 1;
    for (size_t i = 0; i < len; ++i) {
        if (src[i] == 0) {
            dst[code_index] = code;
            code_index = out++;
            code = 1;
            continue;
        }
        dst[out++] = src[i];
        if (++code == 0xFF) {
            dst[code_index] = code;
            if (i + 1 == len) return out; /* a full block ends the data: no extra code byte */
            code_index = out++;
            code = 1;
        }
    }
    dst[code_index] = code;
    return out;
}

long fwb_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap) {
    size_t i = 0, out = 0;
    if (len == 0) return -1;
    while (i < len) {
        uint8_t code = src[i];
        if (code == 0 || i + code > len) return -1;
        for (size_t k = i + 1; k < i + code; ++k) {
            if (src[k] == 0 || out >= cap) return -1;
            dst[out++] = src[k];
        }
        i += code;
        if (code != 0xFF && i < len) {
            if (out >= cap) return -1;
            dst[out++] = 0;
        }
    }
    return (long)out;
}

static uint8_t scratch[FWB_MAX_PAYLOAD];

size_t fwb_build_frame(fwb_header_t *header, const uint8_t *body, size_t body_len, uint8_t *wire) {
    if (body_len > FWB_MAX_BODY) return 0;
    header->version = FWB_PROTOCOL_VERSION;
    header->body_len = (uint16_t)body_len;
    scratch[0] = header->version;
    scratch[1] = header->msg_type;
    scratch[2] = header->device_id;
    scratch[3] = header->flags;
    fwb_put_u16(scratch + 4, header->seq);
    fwb_put_u16(scratch + 6, header->body_len);
    fwb_put_u64(scratch + 8, header->device_time_us);
    if (body_len) memcpy(scratch + FWB_HEADER_SIZE, body, body_len);
    size_t n = FWB_HEADER_SIZE + body_len;
    fwb_put_u32(scratch + n, fwb_crc32c(scratch, n, 0));
    n += FWB_CRC_SIZE;
    wire[0] = 0;
    size_t encoded = fwb_cobs_encode(scratch, n, wire + 1);
    wire[1 + encoded] = 0;
    return encoded + 2;
}

int fwb_parse_payload(const uint8_t *payload, size_t len, fwb_header_t *header, const uint8_t **body) {
    if (len < FWB_HEADER_SIZE + FWB_CRC_SIZE) return FWB_PARSE_TOO_SHORT;
    if (len > FWB_MAX_PAYLOAD) return FWB_PARSE_TOO_LONG;
    size_t n = len - FWB_CRC_SIZE;
    if (fwb_crc32c(payload, n, 0) != fwb_get_u32(payload + n)) return FWB_PARSE_CRC_ERROR;
    header->version = payload[0];
    header->msg_type = payload[1];
    header->device_id = payload[2];
    header->flags = payload[3];
    header->seq = fwb_get_u16(payload + 4);
    header->body_len = fwb_get_u16(payload + 6);
    header->device_time_us = fwb_get_u64(payload + 8);
    if (header->version != FWB_PROTOCOL_VERSION || header->body_len != n - FWB_HEADER_SIZE)
        return FWB_PARSE_HEADER_ERROR;
    *body = payload + FWB_HEADER_SIZE;
    return FWB_PARSE_OK;
}

void fwb_rx_init(fwb_rx_t *rx) {
    rx->len = 0;
    rx->overflow = 0;
    rx->errors = 0;
}

int fwb_rx_feed(fwb_rx_t *rx, uint8_t byte, fwb_header_t *header, const uint8_t **body) {
    if (byte != 0) {
        if (rx->len < sizeof rx->encoded) {
            rx->encoded[rx->len++] = byte;
        } else if (!rx->overflow) {
            rx->overflow = 1;
            rx->errors++;
        }
        return 0;
    }
    size_t len = rx->len;
    int overflow = rx->overflow;
    rx->len = 0;
    rx->overflow = 0;
    if (len == 0 || overflow) return 0; /* empty fragment, or already counted */
    long n = fwb_cobs_decode(rx->encoded, len, rx->payload, sizeof rx->payload);
    if (n < 0 || fwb_parse_payload(rx->payload, (size_t)n, header, body) != FWB_PARSE_OK) {
        rx->errors++;
        return 0;
    }
    return 1;
}
