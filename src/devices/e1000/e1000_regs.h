/* The Intel 8254x (82540EM) register map as petrel's E1000 uses it: offsets into BAR 0 and
 * the bits of each register the device model acts on. Numbers from Intel's "PCI/PCI-X Family
 * of Gigabit Ethernet Controllers Software Developer's Manual" (8254x SDM), chapter 13. */
#ifndef PETREL_DEVICES_E1000_REGS_H
#define PETREL_DEVICES_E1000_REGS_H

/* ---- general ---- */
#define E1000_CTRL 0x0000
#define E1000_STATUS 0x0008
#define E1000_EECD 0x0010
#define E1000_EERD 0x0014
#define E1000_CTRL_EXT 0x0018
#define E1000_FLA 0x001c
#define E1000_MDIC 0x0020
#define E1000_FCAL 0x0028
#define E1000_FCAH 0x002c
#define E1000_FCT 0x0030
#define E1000_VET 0x0038
#define E1000_ICR 0x00c0
#define E1000_ITR 0x00c4
#define E1000_ICS 0x00c8
#define E1000_IMS 0x00d0
#define E1000_IMC 0x00d8
#define E1000_RCTL 0x0100
#define E1000_FCTTV 0x0170
#define E1000_TXCW 0x0178
#define E1000_RXCW 0x0180
#define E1000_TCTL 0x0400
#define E1000_TIPG 0x0410
#define E1000_LEDCTL 0x0e00
#define E1000_PBA 0x1000
#define E1000_FCRTL 0x2160
#define E1000_FCRTH 0x2168
/* receive ring */
#define E1000_RDBAL 0x2800
#define E1000_RDBAH 0x2804
#define E1000_RDLEN 0x2808
#define E1000_RDH 0x2810
#define E1000_RDT 0x2818
#define E1000_RDTR 0x2820
#define E1000_RXDCTL 0x2828
#define E1000_RADV 0x282c
#define E1000_RSRPD 0x2c00
/* transmit ring */
#define E1000_TDBAL 0x3800
#define E1000_TDBAH 0x3804
#define E1000_TDLEN 0x3808
#define E1000_TDH 0x3810
#define E1000_TDT 0x3818
#define E1000_TIDV 0x3820
#define E1000_TXDCTL 0x3828
#define E1000_TADV 0x382c
#define E1000_TSPMT 0x3830
/* statistics: 0x4000..0x40fc, read-to-clear */
#define E1000_STATS 0x4000
#define E1000_NSTATS 64
#define E1000_RXCSUM 0x5000
#define E1000_MTA 0x5200     /* 128 dwords */
#define E1000_RA 0x5400      /* 16 pairs RAL/RAH */
#define E1000_VFTA 0x5600    /* 128 dwords */
#define E1000_WUC 0x5800
#define E1000_WUFC 0x5808
#define E1000_WUS 0x5810
#define E1000_MANC 0x5820
#define E1000_BAR0_SIZE 0x20000

/* statistics, as indices from E1000_STATS */
#define E1000_ST(off) (((off) - E1000_STATS) / 4)
#define E1000_ST_MPC E1000_ST(0x4010)    /* missed packets */
#define E1000_ST_PRC64 E1000_ST(0x405c)  /* received 64, 65-127, ..., 1024-1522 bytes: 6 counters */
#define E1000_ST_GPRC E1000_ST(0x4074)
#define E1000_ST_BPRC E1000_ST(0x4078)
#define E1000_ST_MPRC E1000_ST(0x407c)
#define E1000_ST_GPTC E1000_ST(0x4080)
#define E1000_ST_GORCL E1000_ST(0x4088)
#define E1000_ST_GORCH E1000_ST(0x408c)
#define E1000_ST_GOTCL E1000_ST(0x4090)
#define E1000_ST_GOTCH E1000_ST(0x4094)
#define E1000_ST_RNBC E1000_ST(0x40a0)   /* receive: no buffers */
#define E1000_ST_RUC E1000_ST(0x40a4)
#define E1000_ST_ROC E1000_ST(0x40ac)
#define E1000_ST_TORL E1000_ST(0x40c0)
#define E1000_ST_TORH E1000_ST(0x40c4)
#define E1000_ST_TOTL E1000_ST(0x40c8)
#define E1000_ST_TOTH E1000_ST(0x40cc)
#define E1000_ST_TPR E1000_ST(0x40d0)
#define E1000_ST_TPT E1000_ST(0x40d4)
#define E1000_ST_PTC64 E1000_ST(0x40d8)  /* transmitted by size: 6 counters */
#define E1000_ST_MPTC E1000_ST(0x40f0)
#define E1000_ST_BPTC E1000_ST(0x40f4)
#define E1000_ST_TSCTC E1000_ST(0x40f8)  /* TCP segmentation contexts transmitted */

/* CTRL */
#define E1000_CTRL_FD 0x00000001u
#define E1000_CTRL_SLU 0x00000040u
#define E1000_CTRL_RST 0x04000000u
#define E1000_CTRL_VME 0x40000000u
#define E1000_CTRL_PHY_RST 0x80000000u
/* STATUS */
#define E1000_STATUS_FD 0x00000001u
#define E1000_STATUS_LU 0x00000002u
#define E1000_STATUS_SPEED_1000 0x00000080u
#define E1000_STATUS_ASDV_1000 0x00000200u
#define E1000_STATUS_MTXCKOK 0x00000400u
/* EECD */
#define E1000_EECD_SK 0x00000001u
#define E1000_EECD_CS 0x00000002u
#define E1000_EECD_DI 0x00000004u
#define E1000_EECD_DO 0x00000008u
#define E1000_EECD_FWE 0x00000030u
#define E1000_EECD_REQ 0x00000040u
#define E1000_EECD_GNT 0x00000080u
#define E1000_EECD_PRES 0x00000100u
/* EERD (82540 layout) */
#define E1000_EERD_START 0x00000001u
#define E1000_EERD_DONE 0x00000010u
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_DATA_SHIFT 16
/* MDIC */
#define E1000_MDIC_DATA 0x0000ffffu
#define E1000_MDIC_REG_SHIFT 16
#define E1000_MDIC_PHY_SHIFT 21
#define E1000_MDIC_OP_WRITE 0x04000000u
#define E1000_MDIC_OP_READ 0x08000000u
#define E1000_MDIC_READY 0x10000000u
#define E1000_MDIC_INT_EN 0x20000000u
#define E1000_MDIC_ERROR 0x40000000u
/* interrupt causes (ICR, ICS, IMS, IMC) */
#define E1000_ICR_TXDW 0x00000001u
#define E1000_ICR_TXQE 0x00000002u
#define E1000_ICR_LSC 0x00000004u
#define E1000_ICR_RXSEQ 0x00000008u
#define E1000_ICR_RXDMT0 0x00000010u
#define E1000_ICR_RXO 0x00000040u
#define E1000_ICR_RXT0 0x00000080u
#define E1000_ICR_MDAC 0x00000200u
#define E1000_ICR_TXD_LOW 0x00008000u
#define E1000_ICR_SRPD 0x00010000u
#define E1000_ICR_VALID 0x0001f6dfu   /* the causes an 82540EM has */
/* RCTL */
#define E1000_RCTL_EN 0x00000002u
#define E1000_RCTL_SBP 0x00000004u
#define E1000_RCTL_UPE 0x00000008u
#define E1000_RCTL_MPE 0x00000010u
#define E1000_RCTL_LPE 0x00000020u
#define E1000_RCTL_LBM 0x000000c0u
#define E1000_RCTL_RDMTS_SHIFT 8
#define E1000_RCTL_MO_SHIFT 12
#define E1000_RCTL_BAM 0x00008000u
#define E1000_RCTL_BSIZE_SHIFT 16
#define E1000_RCTL_VFE 0x00040000u
#define E1000_RCTL_BSEX 0x02000000u
#define E1000_RCTL_SECRC 0x04000000u
/* TCTL */
#define E1000_TCTL_EN 0x00000002u
/* RXCSUM */
#define E1000_RXCSUM_IPOFL 0x00000100u
#define E1000_RXCSUM_TUOFL 0x00000200u
/* RAH */
#define E1000_RAH_AV 0x80000000u

/* ---- descriptors (16 bytes each, little-endian) ---- */
#define E1000_DESC_SIZE 16
/* receive: addr[8] length[2] csum[2] status[1] errors[1] special[2] */
#define E1000_RXD_STAT_DD 0x01
#define E1000_RXD_STAT_EOP 0x02
#define E1000_RXD_STAT_IXSM 0x04
#define E1000_RXD_STAT_VP 0x08
/* transmit: byte 11 is the command (legacy) or bits 24..31 of dword 2 (extended); byte 12 the
 * status; byte 13 the options of a data descriptor */
#define E1000_TXD_CMD_EOP 0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_IC 0x04     /* legacy: insert checksum */
#define E1000_TXD_CMD_TSE 0x04    /* extended: TCP segmentation */
#define E1000_TXD_CMD_RS 0x08
#define E1000_TXD_CMD_RPS 0x10
#define E1000_TXD_CMD_DEXT 0x20
#define E1000_TXD_CMD_VLE 0x40
#define E1000_TXD_CMD_IDE 0x80
#define E1000_TXD_DTYP_D 0x1      /* bits 20..23 of dword 2: 0 context, 1 data */
#define E1000_TXD_STAT_DD 0x01
#define E1000_TXD_POPTS_IXSM 0x01
#define E1000_TXD_POPTS_TXSM 0x02
/* context descriptor's TUCMD (bits 24..31 of dword 2) */
#define E1000_TUCMD_TCP 0x01
#define E1000_TUCMD_IP 0x02       /* IPv4 (else IPv6) */
#define E1000_TUCMD_TSE 0x04

/* ---- identity ---- */
#define E1000_VENDOR_INTEL 0x8086
#define E1000_DEV_82540EM 0x100e

#endif
