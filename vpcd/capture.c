/* Packet capture (stub: being written). */
#include "vpcd.h"
