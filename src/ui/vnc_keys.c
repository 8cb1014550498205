/* The US keymap for VNC clients that send keysyms only (vnc_keys.h). The scan codes are set 1
 * (the IBM PC XT's), which display.h's keyboard takes and translates for the guest. */
#include "ui/vnc_keys.h"

#include <stddef.h>

/* The printable ASCII keysyms (0x20..0x7e are Latin-1's and the characters' codes), by the key
 * that types them on a US keyboard, shifted or not. */
static const uint8_t ascii[0x7f] = {
	[' '] = 0x39,
	['1'] = 0x02, ['!'] = 0x02, ['2'] = 0x03, ['@'] = 0x03, ['3'] = 0x04, ['#'] = 0x04,
	['4'] = 0x05, ['$'] = 0x05, ['5'] = 0x06, ['%'] = 0x06, ['6'] = 0x07, ['^'] = 0x07,
	['7'] = 0x08, ['&'] = 0x08, ['8'] = 0x09, ['*'] = 0x09, ['9'] = 0x0a, ['('] = 0x0a,
	['0'] = 0x0b, [')'] = 0x0b, ['-'] = 0x0c, ['_'] = 0x0c, ['='] = 0x0d, ['+'] = 0x0d,
	['q'] = 0x10, ['w'] = 0x11, ['e'] = 0x12, ['r'] = 0x13, ['t'] = 0x14, ['y'] = 0x15,
	['u'] = 0x16, ['i'] = 0x17, ['o'] = 0x18, ['p'] = 0x19, ['['] = 0x1a, ['{'] = 0x1a,
	[']'] = 0x1b, ['}'] = 0x1b,
	['a'] = 0x1e, ['s'] = 0x1f, ['d'] = 0x20, ['f'] = 0x21, ['g'] = 0x22, ['h'] = 0x23,
	['j'] = 0x24, ['k'] = 0x25, ['l'] = 0x26, [';'] = 0x27, [':'] = 0x27, ['\''] = 0x28,
	['"'] = 0x28, ['`'] = 0x29, ['~'] = 0x29, ['\\'] = 0x2b, ['|'] = 0x2b,
	['z'] = 0x2c, ['x'] = 0x2d, ['c'] = 0x2e, ['v'] = 0x2f, ['b'] = 0x30, ['n'] = 0x31,
	['m'] = 0x32, [','] = 0x33, ['<'] = 0x33, ['.'] = 0x34, ['>'] = 0x34, ['/'] = 0x35,
	['?'] = 0x35,
};

/* The function keys' keysyms (0xff00..0xffff, X11's keysymdef.h) and their keys. */
static const struct {
	uint16_t keysym, xt;
} function[] = {
	{ 0xff08, 0x0e },   /* BackSpace */
	{ 0xff09, 0x0f },   /* Tab */
	{ 0xfe20, 0x0f },   /* ISO_Left_Tab (Shift-Tab) */
	{ 0xff0d, 0x1c },   /* Return */
	{ 0xff13, 0xe046 }, /* Pause (as Ctrl-Break's make code: set 1 has no single one) */
	{ 0xff14, 0x46 },   /* Scroll_Lock */
	{ 0xff15, 0xe037 }, /* Sys_Req */
	{ 0xff1b, 0x01 },   /* Escape */
	{ 0xff50, 0xe047 }, /* Home */
	{ 0xff51, 0xe04b }, /* Left */
	{ 0xff52, 0xe048 }, /* Up */
	{ 0xff53, 0xe04d }, /* Right */
	{ 0xff54, 0xe050 }, /* Down */
	{ 0xff55, 0xe049 }, /* Prior (Page Up) */
	{ 0xff56, 0xe051 }, /* Next (Page Down) */
	{ 0xff57, 0xe04f }, /* End */
	{ 0xff61, 0xe037 }, /* Print */
	{ 0xff63, 0xe052 }, /* Insert */
	{ 0xff67, 0xe05d }, /* Menu */
	{ 0xff7f, 0x45 },   /* Num_Lock */
	{ 0xff8d, 0xe01c }, /* KP_Enter */
	{ 0xff95, 0x47 },   /* KP_Home */
	{ 0xff96, 0x4b },   /* KP_Left */
	{ 0xff97, 0x48 },   /* KP_Up */
	{ 0xff98, 0x4d },   /* KP_Right */
	{ 0xff99, 0x50 },   /* KP_Down */
	{ 0xff9a, 0x49 },   /* KP_Prior */
	{ 0xff9b, 0x51 },   /* KP_Next */
	{ 0xff9c, 0x4f },   /* KP_End */
	{ 0xff9d, 0x4c },   /* KP_Begin */
	{ 0xff9e, 0x52 },   /* KP_Insert */
	{ 0xff9f, 0x53 },   /* KP_Delete */
	{ 0xffaa, 0x37 },   /* KP_Multiply */
	{ 0xffab, 0x4e },   /* KP_Add */
	{ 0xffad, 0x4a },   /* KP_Subtract */
	{ 0xffae, 0x53 },   /* KP_Decimal */
	{ 0xffaf, 0xe035 }, /* KP_Divide */
	{ 0xffb0, 0x52 }, { 0xffb1, 0x4f }, { 0xffb2, 0x50 }, { 0xffb3, 0x51 }, { 0xffb4, 0x4b }, /* KP_0..4 */
	{ 0xffb5, 0x4c }, { 0xffb6, 0x4d }, { 0xffb7, 0x47 }, { 0xffb8, 0x48 }, { 0xffb9, 0x49 }, /* KP_5..9 */
	{ 0xffbd, 0x0d },   /* KP_Equal (no key of its own on a PC: '=') */
	{ 0xffbe, 0x3b }, { 0xffbf, 0x3c }, { 0xffc0, 0x3d }, { 0xffc1, 0x3e }, { 0xffc2, 0x3f }, /* F1..F5 */
	{ 0xffc3, 0x40 }, { 0xffc4, 0x41 }, { 0xffc5, 0x42 }, { 0xffc6, 0x43 }, { 0xffc7, 0x44 }, /* F6..F10 */
	{ 0xffc8, 0x57 }, { 0xffc9, 0x58 },                                                     /* F11, F12 */
	{ 0xffe1, 0x2a },   /* Shift_L */
	{ 0xffe2, 0x36 },   /* Shift_R */
	{ 0xffe3, 0x1d },   /* Control_L */
	{ 0xffe4, 0xe01d }, /* Control_R */
	{ 0xffe5, 0x3a },   /* Caps_Lock */
	{ 0xffe7, 0xe05b }, /* Meta_L (a Windows key, as X maps it) */
	{ 0xffe8, 0xe05c }, /* Meta_R */
	{ 0xffe9, 0x38 },   /* Alt_L */
	{ 0xffea, 0xe038 }, /* Alt_R */
	{ 0xffeb, 0xe05b }, /* Super_L */
	{ 0xffec, 0xe05c }, /* Super_R */
	{ 0xffff, 0xe053 }, /* Delete */
};

uint16_t vnc_keysym_to_xt(uint32_t keysym)
{
	if (keysym >= 'A' && keysym <= 'Z')
		keysym += 'a' - 'A';
	if (keysym < sizeof(ascii))
		return ascii[keysym];
	if (keysym == 0xfe03)   /* ISO_Level3_Shift: AltGr, the right Alt key */
		return 0xe038;
	for (size_t i = 0; i < sizeof(function) / sizeof(function[0]); i++)
		if (function[i].keysym == keysym)
			return function[i].xt;
	return 0;
}

uint16_t vnc_qnum_to_xt(uint32_t qnum)
{
	if (qnum == 0 || qnum > 0xff)
		return 0;
	return qnum & 0x80 ? (uint16_t)(0xe000 | (qnum & 0x7f)) : (uint16_t)qnum;
}
