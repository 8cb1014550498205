/* The VNC server's keys (src/ui/vnc_keys.c): the US keymap for keysym-only viewers, and QEMU's
 * qnum scan codes (0xe0-prefixed keys as 0x80 | code) turned into display.h's XT codes. */
#include "ui/vnc_keys.h"
#include "unit.h"

TEST(us_keymap)
{
	CHECK_EQ(vnc_keysym_to_xt('a'), 0x1e);
	CHECK_EQ(vnc_keysym_to_xt('A'), 0x1e);    /* the client sends Shift itself */
	CHECK_EQ(vnc_keysym_to_xt('!'), 0x02);
	CHECK_EQ(vnc_keysym_to_xt(' '), 0x39);
	CHECK_EQ(vnc_keysym_to_xt('~'), 0x29);
	CHECK_EQ(vnc_keysym_to_xt('|'), 0x2b);
	CHECK_EQ(vnc_keysym_to_xt('?'), 0x35);
	CHECK_EQ(vnc_keysym_to_xt(0xff0d), 0x1c);   /* Return */
	CHECK_EQ(vnc_keysym_to_xt(0xff8d), 0xe01c); /* KP_Enter */
	CHECK_EQ(vnc_keysym_to_xt(0xffff), 0xe053); /* Delete */
	CHECK_EQ(vnc_keysym_to_xt(0xffc9), 0x58);   /* F12 */
	CHECK_EQ(vnc_keysym_to_xt(0xfe03), 0xe038); /* AltGr */
	CHECK_EQ(vnc_keysym_to_xt(0xffe4), 0xe01d); /* Control_R */
	/* no key on a US keyboard: none */
	CHECK_EQ(vnc_keysym_to_xt(0x20ac), 0);      /* EuroSign */
	CHECK_EQ(vnc_keysym_to_xt(0xe9), 0);        /* eacute */
	CHECK_EQ(vnc_keysym_to_xt(0x7f), 0);
	CHECK_EQ(vnc_keysym_to_xt(0), 0);
	CHECK_EQ(vnc_keysym_to_xt(0xffffffffu), 0);
}

TEST(every_printable_ascii_has_a_key)
{
	for (unsigned c = 0x20; c < 0x7f; c++)
		CHECK(vnc_keysym_to_xt(c) != 0);
}

TEST(qnum)
{
	CHECK_EQ(vnc_qnum_to_xt(0x1e), 0x1e);
	CHECK_EQ(vnc_qnum_to_xt(0x9c), 0xe01c);     /* keypad Enter */
	CHECK_EQ(vnc_qnum_to_xt(0xc8), 0xe048);     /* Up */
	CHECK_EQ(vnc_qnum_to_xt(0), 0);
	CHECK_EQ(vnc_qnum_to_xt(0x100), 0);
	CHECK_EQ(vnc_qnum_to_xt(0xe01c), 0);        /* not a qnum */
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
