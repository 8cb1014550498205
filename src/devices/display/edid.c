/* The EDID block: see edid.h. Layout per VESA E-EDID 1.4 (base block). */
#include "devices/display/edid.h"

#include <string.h>

/* A detailed timing descriptor (18 bytes) for w x h at 60 Hz with small fixed blanking (a
 * virtual panel: any timing the numbers allow is fine, the driver wants the size). */
static void detailed_timing(uint8_t *d, uint32_t w, uint32_t h)
{
	const uint32_t hblank = 160, hso = 48, hsw = 32, vblank = 35, vso = 3, vsw = 5;
	uint32_t clk = (uint32_t)((uint64_t)(w + hblank) * (h + vblank) * 60 / 10000); /* 10 kHz units */
	uint32_t wmm = w * 254 / 960, hmm = h * 254 / 960;                          /* at 96 dpi */
	d[0] = (uint8_t)clk;
	d[1] = (uint8_t)(clk >> 8);
	d[2] = (uint8_t)w;
	d[3] = (uint8_t)hblank;
	d[4] = (uint8_t)(((w >> 8) & 0xf) << 4 | ((hblank >> 8) & 0xf));
	d[5] = (uint8_t)h;
	d[6] = (uint8_t)vblank;
	d[7] = (uint8_t)(((h >> 8) & 0xf) << 4 | ((vblank >> 8) & 0xf));
	d[8] = (uint8_t)hso;
	d[9] = (uint8_t)hsw;
	d[10] = (uint8_t)((vso & 0xf) << 4 | (vsw & 0xf));
	d[11] = (uint8_t)(((hso >> 8) & 3) << 6 | ((hsw >> 8) & 3) << 4 | ((vso >> 4) & 3) << 2 | ((vsw >> 4) & 3));
	d[12] = (uint8_t)wmm;
	d[13] = (uint8_t)hmm;
	d[14] = (uint8_t)(((wmm >> 8) & 0xf) << 4 | ((hmm >> 8) & 0xf));
	d[15] = d[16] = 0;       /* no border */
	d[17] = 0x1e;            /* digital separate sync, both polarities positive */
}

static void text_descriptor(uint8_t *d, uint8_t tag, const char *text)
{
	memset(d, 0, 18);
	d[3] = tag;
	memset(d + 5, ' ', 13);
	size_t n = strlen(text);
	memcpy(d + 5, text, n);
	d[5 + n] = '\n';
}

void edid_build(uint8_t e[EDID_SIZE], uint32_t width, uint32_t height)
{
	static const uint8_t header[8] = { 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00 };
	/* sRGB's primaries and white point, 10-bit fixed point as the block packs them */
	static const uint8_t chroma[10] = { 0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f, 0x50, 0x54 };
	memset(e, 0, EDID_SIZE);
	memcpy(e, header, sizeof(header));
	uint16_t mfg = (uint16_t)(('P' - '@') << 10 | ('T' - '@') << 5 | ('L' - '@')); /* "PTL" */
	e[8] = (uint8_t)(mfg >> 8);
	e[9] = (uint8_t)mfg;
	e[10] = 0x01;                 /* product code 1 */
	e[17] = 2024 - 1990;          /* year of manufacture */
	e[18] = 1;                    /* EDID 1.4 */
	e[19] = 4;
	e[20] = 0xa0;                 /* digital input, 8 bits per colour */
	uint32_t wcm = width * 254 / 9600, hcm = height * 254 / 9600;
	e[21] = (uint8_t)(wcm > 255 ? 255 : wcm ? wcm : 1);
	e[22] = (uint8_t)(hcm > 255 ? 255 : hcm ? hcm : 1);
	e[23] = 120;                  /* gamma 2.2 */
	e[24] = 0x06;                 /* RGB 4:4:4, sRGB default, the first timing is preferred */
	memcpy(e + 25, chroma, sizeof(chroma));
	/* established timings: 640x480, 800x600, 1024x768 at 60 Hz where they fit */
	e[35] = (uint8_t)((width >= 640 && height >= 480 ? 0x20 : 0) | (width >= 800 && height >= 600 ? 0x01 : 0));
	e[36] = width >= 1024 && height >= 768 ? 0x08 : 0;
	for (unsigned i = 38; i < 54; i++)
		e[i] = 0x01;              /* standard timings: unused */
	detailed_timing(e + 54, width, height);
	/* range limits: 50-125 Hz vertical, 30-160 kHz horizontal, 600 MHz, no formula */
	static const uint8_t range[18] = { 0, 0, 0, 0xfd, 0, 50, 125, 30, 160, 60, 0x01, 0x0a,
					   0x20, 0x20, 0x20, 0x20, 0x20, 0x20 };
	memcpy(e + 72, range, sizeof(range));
	text_descriptor(e + 90, 0xfc, "petrel");      /* monitor name */
	text_descriptor(e + 108, 0xff, "0");          /* serial number */
	uint8_t sum = 0;
	for (unsigned i = 0; i < EDID_SIZE - 1; i++)
		sum = (uint8_t)(sum + e[i]);
	e[127] = (uint8_t)(0x100 - sum);
}
