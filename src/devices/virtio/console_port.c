/* virtio-console: a port's byte stream to and from its back end (see console.h). */
#include "devices/virtio/console.h"
