/*
 * pollmsgr dpdk-sys shim: out-of-line wrappers for DPDK's static inline
 * functions and macros, which have no symbol in the shared libraries.
 * Every wrapper is a one-line forward; names are the DPDK name with a
 * `pm_` prefix.
 */
#ifndef POLLMSGR_DPDK_SHIM_H
#define POLLMSGR_DPDK_SHIM_H
#include <stdint.h>
struct rte_mbuf;
struct rte_mempool;

int pm_rte_errno(void);
void pm_rte_reset_errno(void);
unsigned pm_rte_lcore_id(void);
unsigned pm_rte_socket_id(void);

uint16_t pm_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                             struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t pm_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                             struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

struct rte_mbuf *pm_rte_pktmbuf_alloc(struct rte_mempool *mp);
int pm_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                              unsigned count);
void pm_rte_pktmbuf_free(struct rte_mbuf *m);
void pm_rte_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count);
char *pm_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *pm_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *pm_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int pm_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
/* rte_pktmbuf_mtod(m, void *) */
void *pm_rte_pktmbuf_mtod(struct rte_mbuf *m);
uint16_t pm_rte_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t pm_rte_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t pm_rte_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t pm_rte_pktmbuf_tailroom(const struct rte_mbuf *m);
uint16_t pm_rte_mbuf_refcnt_read(const struct rte_mbuf *m);
uint16_t pm_rte_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value);
uint16_t pm_rte_mbuf_nb_segs(const struct rte_mbuf *m);
uint64_t pm_rte_mbuf_ol_flags(const struct rte_mbuf *m);
void pm_rte_mbuf_set_tx_offload(struct rte_mbuf *m, uint64_t ol_flags,
                                uint16_t l2_len, uint16_t l3_len);
uint32_t pm_rte_mbuf_rss_hash(const struct rte_mbuf *m);
uint16_t pm_rte_mbuf_port(const struct rte_mbuf *m);
unsigned pm_rte_mempool_avail_count(const struct rte_mempool *mp);
/* Pseudo-header checksum for TCP/UDP checksum offload (rte_ipv4_phdr_cksum). */
uint16_t pm_rte_ipv4_phdr_cksum(const void *ipv4_hdr, uint64_t ol_flags);
#endif
