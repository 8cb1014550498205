/* How a device asks the VM to stop (power-off, reset, test exit): a callback into vm/. */
#ifndef PETREL_DEVICES_POWER_H
#define PETREL_DEVICES_POWER_H

enum vm_stop_reason {
	VM_STOP_NONE = 0,
	VM_STOP_POWEROFF,   /* ACPI S5 */
	VM_STOP_RESET,      /* i8042 0xFE, ACPI reset register, triple fault */
	VM_STOP_DEBUG_EXIT, /* test guest wrote the debug-exit port */
	VM_STOP_ERROR,      /* petrel could not go on */
	VM_STOP_USER,       /* the user asked (console escape, signal, API) */
};

struct power_ctl {
	void (*request)(void *opaque, enum vm_stop_reason reason, int code, const char *why);
	void *opaque;
};

static inline void power_request(const struct power_ctl *p, enum vm_stop_reason reason, int code,
				 const char *why)
{
	if (p->request)
		p->request(p->opaque, reason, code, why);
}

#endif
