/* Headers that bindgen reads; the allowlist in build.rs keeps the output narrow. */
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_memory.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_eth_ring.h>
#include <rte_bus_vdev.h>
#include "shim.h"
#include "consts.h"
