/* Auto-converge: when a guest dirties memory faster than pre-copy sends it, hold its vCPUs
 * for a share of every 10 ms (a thread kicks each vCPU out of KVM_RUN with a nap to take),
 * raised step by step until the rounds shrink, as QEMU does. */
#ifndef PETREL_MIGRATION_THROTTLE_H
#define PETREL_MIGRATION_THROTTLE_H

struct vm;
struct throttle;

int throttle_start(struct vm *vm, struct throttle **out);
/* 0-99: percent of each period the vCPUs sleep. */
void throttle_set(struct throttle *t, unsigned percent);
unsigned throttle_get(struct throttle *t);
void throttle_stop(struct throttle *t);

#endif
