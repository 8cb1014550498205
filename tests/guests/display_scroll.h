/* SPDX-License-Identifier: Apache-2.0 */
/* The display guest's scroll=HZ mode (display_scroll.c): a text console scrolling on the
 * framebuffer fb (width x height, 32 bpp, the mode programmed) at HZ steps a second. */
#ifndef PETREL_GUEST_DISPLAY_SCROLL_H
#define PETREL_GUEST_DISPLAY_SCROLL_H
#include <stdint.h>

void display_scroll(volatile uint32_t *fb, uint32_t width, uint32_t height, long hz);

#endif
