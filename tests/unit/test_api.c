/* Unit tests for src/api (no socket, no KVM): the router and the controller's resource
 * handling on a dry-run controller, the config-file loader, metrics increments, and the
 * logger's format options. Built with ASan/UBSan like every unit test. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api/controller.h"
#include "api/metrics.h"
#include "api/router.h"
#include "util/log.h"
#include "util/util.h"
#include "unit.h"

struct answer {
	unsigned status;
	json_t *body;   /* NULL for no body */
};

static struct answer call(struct controller *ctl, const char *method, const char *path,
			  const char *body)
{
	struct api_response r;
	enum api_result res = api_handle(ctl, method, path, body, body ? strlen(body) : 0, &r, NULL,
					 NULL);
	CHECK_EQ(res, API_DONE);
	struct answer a = { r.status, r.body ? json_loads(r.body, 0, NULL) : NULL };
	if (r.body)
		CHECK(a.body != NULL);
	api_response_free(&r);
	return a;
}

static const char *fault(const struct answer *a)
{
	const char *s = json_string_value(json_object_get(a->body, "fault_message"));
	return s ? s : "";
}

static void drop(struct answer *a)
{
	json_decref(a->body);
	a->body = NULL;
}

static void setup(struct controller *ctl)
{
	log_set_level(LOG_OFF);
	CHECK_EQ(ctl_init(ctl, NULL), 0);
	ctl->dry_run = true;
}

TEST(instance_info_and_version)
{
	struct controller ctl;
	setup(&ctl);
	struct answer a = call(&ctl, "GET", "/", NULL);
	CHECK_EQ(a.status, 200);
	CHECK_STR_EQ(json_string_value(json_object_get(a.body, "state")), "Not started");
	CHECK_STR_EQ(json_string_value(json_object_get(a.body, "id")), "anonymous-instance");
	CHECK_STR_EQ(json_string_value(json_object_get(a.body, "app_name")), "petrel");
	drop(&a);
	a = call(&ctl, "GET", "/version", NULL);
	CHECK_EQ(a.status, 200);
	CHECK(json_is_string(json_object_get(a.body, "firecracker_version")));
	drop(&a);
	ctl_free(&ctl);
}

TEST(machine_config_put_patch_get)
{
	struct controller ctl;
	setup(&ctl);
	struct answer a = call(&ctl, "PUT", "/machine-config",
			       "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": true}");
	CHECK_EQ(a.status, 204);
	CHECK_NULL(a.body);
	a = call(&ctl, "PATCH", "/machine-config", "{\"mem_size_mib\": 512}");
	CHECK_EQ(a.status, 204);
	a = call(&ctl, "GET", "/machine-config", NULL);
	CHECK_EQ(a.status, 200);
	CHECK_EQ(json_integer_value(json_object_get(a.body, "vcpu_count")), 2);
	CHECK_EQ(json_integer_value(json_object_get(a.body, "mem_size_mib")), 512);
	CHECK(json_is_true(json_object_get(a.body, "smt")));
	drop(&a);
	/* PUT resets the optional fields */
	a = call(&ctl, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}");
	CHECK_EQ(a.status, 204);
	a = call(&ctl, "GET", "/machine-config", NULL);
	CHECK(json_is_false(json_object_get(a.body, "smt")));
	drop(&a);
	a = call(&ctl, "PATCH", "/machine-config", "{}");
	CHECK_EQ(a.status, 400);
	CHECK_CONTAINS(fault(&a), "empty");
	drop(&a);
	a = call(&ctl, "PUT", "/machine-config", "{\"vcpu_count\": 1}");
	CHECK_EQ(a.status, 400);
	CHECK_CONTAINS(fault(&a), "mem_size_mib");
	drop(&a);
	ctl_free(&ctl);
}

TEST(routing_errors)
{
	struct controller ctl;
	setup(&ctl);
	static const char *const bad[][2] = {
		{ "GET", "/nope" }, { "POST", "/actions" }, { "GET", "/actions" }, { "PUT", "/" },
		{ "GET", "" }, { "GET", "x" }, { "GET", "//" }, { "GET", "/drives/a/b" },
		{ "GET", "/a/b/c/d/e/f" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct answer a = call(&ctl, bad[i][0], bad[i][1], NULL);
		CHECK_EQ(a.status, 400);
		CHECK_CONTAINS(fault(&a), "Invalid request method and/or path");
		drop(&a);
	}
	struct answer a = call(&ctl, "GET", "/machine-config/", NULL);
	CHECK_EQ(a.status, 200);
	drop(&a);
	a = call(&ctl, "GET", "/balloon", NULL);
	CHECK_EQ(a.status, 400);
	CHECK_CONTAINS(fault(&a), "No balloon device found");
	drop(&a);
	a = call(&ctl, "GET", "/hotplug/memory", NULL);
	CHECK_EQ(a.status, 400);
	CHECK_CONTAINS(fault(&a), "not supported before starting the microVM"); /* Firecracker's */
	drop(&a);
	a = call(&ctl, "GET", "/", "{}");
	CHECK_EQ(a.status, 400);
	CHECK_CONTAINS(fault(&a), "no request body");
	drop(&a);
	a = call(&ctl, "PUT", "/boot-source", NULL);
	CHECK_EQ(a.status, 400);
	CHECK_CONTAINS(fault(&a), "needs a JSON request body");
	drop(&a);
	/* Bytes that are not UTF-8 in the path still give a valid JSON answer. */
	a = call(&ctl, "GET", "/\xff\xfe\x01", NULL);
	CHECK_EQ(a.status, 400);
	CHECK(a.body != NULL);
	drop(&a);
	ctl_free(&ctl);
}

TEST(broken_json)
{
	struct controller ctl;
	setup(&ctl);
	static const char *const bodies[] = {
		"{", "[]", "\"x\"", "{\"vcpu_count\": 1, \"vcpu_count\": 1}", "{} {}", "nul",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct answer a = call(&ctl, "PUT", "/machine-config", bodies[i]);
		CHECK_EQ(a.status, 400);
		CHECK(strlen(fault(&a)) > 0);
		drop(&a);
	}
	/* A body with a NUL byte inside (length given explicitly) */
	struct api_response r;
	api_handle(&ctl, "PUT", "/machine-config", "{\"a\"\0: 1}", 9, &r, NULL, NULL);
	CHECK_EQ(r.status, 400);
	api_response_free(&r);
	ctl_free(&ctl);
}

TEST(devices_and_vm_config)
{
	struct controller ctl;
	setup(&ctl);
	struct answer a = call(&ctl, "PUT", "/drives/root",
			       "{\"drive_id\": \"root\", \"path_on_host\": \"/img\", \"is_root_device\": true}");
	CHECK_EQ(a.status, 204);
	a = call(&ctl, "PUT", "/drives/data",
		 "{\"drive_id\": \"data\", \"path_on_host\": \"/img2\", \"is_root_device\": true}");
	CHECK_EQ(a.status, 400);
	CHECK_CONTAINS(fault(&a), "root");
	drop(&a);
	a = call(&ctl, "PUT", "/drives/data",
		 "{\"drive_id\": \"other\", \"path_on_host\": \"/img2\", \"is_root_device\": false}");
	CHECK_EQ(a.status, 400);
	CHECK_CONTAINS(fault(&a), "does not match");
	drop(&a);
	/* replacing in place */
	a = call(&ctl, "PUT", "/drives/root",
		 "{\"drive_id\": \"root\", \"path_on_host\": \"/img3\", \"is_root_device\": true}");
	CHECK_EQ(a.status, 204);
	CHECK_EQ(ctl.cfg.ndrives, 1u);
	CHECK_STR_EQ(ctl.cfg.drives[0].path_on_host, "/img3");
	a = call(&ctl, "PUT", "/network-interfaces/eth0",
		 "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}");
	CHECK_EQ(a.status, 204);
	a = call(&ctl, "PUT", "/network-interfaces/eth1",
		 "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap0\"}");
	CHECK_EQ(a.status, 400);
	drop(&a);
	a = call(&ctl, "PUT", "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/v\"}");
	CHECK_EQ(a.status, 204);
	a = call(&ctl, "PUT", "/entropy", "{}");
	CHECK_EQ(a.status, 204);
	a = call(&ctl, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\", \"boot_args\": \"x\"}");
	CHECK_EQ(a.status, 204);
	a = call(&ctl, "GET", "/vm/config", NULL);
	CHECK_EQ(a.status, 200);
	CHECK_EQ(json_array_size(json_object_get(a.body, "drives")), 1);
	CHECK_EQ(json_array_size(json_object_get(a.body, "network-interfaces")), 1);
	CHECK(json_is_object(json_object_get(a.body, "vsock")));
	CHECK(json_is_object(json_object_get(a.body, "entropy")));
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(a.body, "boot-source"),
						       "boot_args")), "x");
	CHECK(json_is_null(json_object_get(a.body, "logger"))); /* unset: null, as Firecracker writes it */
	drop(&a);
	/* the dry run opens no files */
	a = call(&ctl, "PUT", "/metrics", "{\"metrics_path\": \"/tmp/x\"}");
	CHECK_EQ(a.status, 400);
	drop(&a);
	ctl_free(&ctl);
}

TEST(actions_without_a_vm)
{
	struct controller ctl;
	setup(&ctl);
	struct answer a = call(&ctl, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}");
	CHECK_EQ(a.status, 400);
	CHECK_CONTAINS(fault(&a), "boot-source");
	drop(&a);
	a = call(&ctl, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}");
	CHECK_EQ(a.status, 400);
	drop(&a);
	a = call(&ctl, "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}");
	CHECK_EQ(a.status, 400);
	CHECK_CONTAINS(fault(&a), "not supported before starting the microVM");
	drop(&a);
	a = call(&ctl, "PUT", "/actions", "{\"action_type\": \"Dance\"}");
	CHECK_EQ(a.status, 400);
	CHECK_CONTAINS(fault(&a), "not one of");
	drop(&a);
	a = call(&ctl, "PATCH", "/vm", "{\"state\": \"Paused\"}");
	CHECK_EQ(a.status, 400);
	CHECK_CONTAINS(fault(&a), "not supported before starting the microVM"); /* Firecracker's */
	drop(&a);
	/* InstanceStart that passes the checks but cannot be queued (no worker) */
	a = call(&ctl, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}");
	a = call(&ctl, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}");
	CHECK_EQ(a.status, 400);
	drop(&a);
	ctl_free(&ctl);
}

TEST(config_file)
{
	struct controller ctl;
	setup(&ctl);
	char err[512];
	CHECK_EQ(ctl_load_config(&ctl, "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
				 "\"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 64}, "
				 "\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", "
				 "\"is_root_device\": true}], \"balloon\": null}", err, sizeof(err)), 0);
	CHECK_EQ(ctl.cfg.vcpus, 2u);
	CHECK_EQ(ctl.cfg.ndrives, 1u);
	CHECK_EQ(ctl_load_config(&ctl, "{\"balloon\": {}}", err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "amount_mib: missing required field");
	CHECK_EQ(ctl_load_config(&ctl, "{\"drives\": [{\"path_on_host\": \"/a\"}]}", err, sizeof(err)),
		 -EINVAL);
	CHECK_CONTAINS(err, "drives[0]");
	CHECK_EQ(ctl_load_config(&ctl, "{\"machine-config\": {\"vcpu_count\": 0, \"mem_size_mib\": 64}}",
				 err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "machine-config");
	CHECK_EQ(ctl_load_config(&ctl, "[]", err, sizeof(err)), -EINVAL);
	CHECK_EQ(ctl_load_config(&ctl, "{\"x\": 1}", err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "unknown field 'x'");
	ctl_free(&ctl);
}

TEST(metrics_delta_and_flush)
{
	json_t *prev = json_pack("{s:i, s:{s:i, s:i}, s:s}", "a", 5, "g", "x", 1, "y", 10, "name", "n");
	json_t *cur = json_pack("{s:i, s:{s:i, s:i, s:i}, s:s}", "a", 7, "g", "x", 4, "y", 10, "z", 3,
				"name", "n");
	json_t *d = metrics_delta(cur, prev);
	CHECK_EQ(json_integer_value(json_object_get(d, "a")), 2);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(d, "g"), "x")), 3);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(d, "g"), "y")), 0);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(d, "g"), "z")), 3);
	CHECK_STR_EQ(json_string_value(json_object_get(d, "name")), "n");
	json_decref(d);
	/* latencies are the latest value, as Firecracker's store metrics, not an increase */
	json_t *lp = json_pack("{s:{s:i}}", METRICS_STORE_GROUP, "pause_vm", 40);
	json_t *lc = json_pack("{s:{s:i}}", METRICS_STORE_GROUP, "pause_vm", 30);
	d = metrics_delta(lc, lp);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(d, METRICS_STORE_GROUP), "pause_vm")), 30);
	json_decref(d);
	json_decref(lp);
	json_decref(lc);
	/* counters are unsigned: the increase is modulo 2^64, not a signed overflow (a seed of
	 * fuzz_metrics, under UBSan) */
	lp = json_pack("{s:I}", "c", (json_int_t)INT64_MAX);
	lc = json_pack("{s:I}", "c", (json_int_t)INT64_MIN);
	d = metrics_delta(lc, lp);
	CHECK_EQ(json_integer_value(json_object_get(d, "c")), 1);
	json_decref(d);
	json_decref(lp);
	json_decref(lc);

	char path[] = "/tmp/petrel-unit-metrics-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	close(fd);
	struct metrics m;
	char err[256];
	metrics_init(&m);
	CHECK_EQ(metrics_configure(&m, path, true, NULL, err, sizeof(err)), 0);
	CHECK_EQ(metrics_configure(&m, path, true, NULL, err, sizeof(err)), -EBUSY);
	CHECK_EQ(metrics_flush(&m, prev, "vm1"), 0);
	CHECK_EQ(metrics_flush(&m, cur, "vm1"), 0);
	FILE *f = fopen(path, "r");
	char line[512];
	REQUIRE(f != NULL);
	REQUIRE(fgets(line, sizeof(line), f) != NULL);
	REQUIRE(fgets(line, sizeof(line), f) != NULL);
	fclose(f);
	json_t *second = json_loads(line, 0, NULL);
	CHECK_EQ(json_integer_value(json_object_get(second, "a")), 2);
	CHECK_STR_EQ(json_string_value(json_object_get(second, "id")), "vm1");
	CHECK(json_is_integer(json_object_get(second, "utc_timestamp_ms")));
	json_decref(second);
	metrics_free(&m);
	unlink(path);
	json_decref(prev);
	json_decref(cur);
}

TEST(periodic_metrics_flush_on_the_worker)
{
	char path[] = "/tmp/petrel-unit-pmetrics-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	close(fd);
	struct controller ctl;
	log_set_level(LOG_OFF);
	REQUIRE_EQ(ctl_init(&ctl, "unit"), 0);
	char err[256], body[128];
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\", \"emit_id\": true}", path);
	json_t *b = json_loads(body, 0, NULL);
	CHECK_EQ(ctl_put_metrics(&ctl, b, err, sizeof(err)), 0);
	json_decref(b);
	/* Bring the next periodic flush (normally 60 s away) close. */
	pthread_mutex_lock(&ctl.lock);
	ctl.next_flush_ns = now_ns() + 20 * 1000000ull;
	pthread_mutex_unlock(&ctl.lock);
	REQUIRE_EQ(ctl_start_worker(&ctl), 0);
	usleep(200 * 1000);
	ctl_stop_worker(&ctl);
	uint64_t next = ctl.next_flush_ns;
	ctl_free(&ctl);
	CHECK(next > now_ns() + 50ull * 1000000000ull);   /* rescheduled a minute ahead */
	FILE *f = fopen(path, "r");
	char line[16384]; /* one metrics line: every group, zeros included */
	int n = 0;
	REQUIRE(f != NULL);
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	unlink(path);
	CHECK_EQ(n, 1);
	json_t *m = json_loads(line, 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(m, "id")), "unit");
	CHECK(json_is_object(json_object_get(m, "exits")));
	json_decref(m);
}

TEST(logger_format_module_and_capture)
{
	char path[] = "/tmp/petrel-unit-log-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	close(fd);
	REQUIRE_EQ(log_set_path(path), 0);
	log_set_level(LOG_DEBUG);
	log_set_format(false, true);
	log_info("first %d", 1);
	log_set_format(true, false);
	log_set_module("vm");
	log_info("filtered out");            /* this file is tests/unit, not src/vm */
	log_set_module(NULL);
	log_warn("second");
	char cap[64];
	log_capture_begin(cap, sizeof(cap));
	log_set_level(LOG_OFF);
	log_error("captured %s", "reason");  /* captured even though nothing is printed */
	log_error("not the first");
	log_capture_end();
	log_set_path(NULL);
	CHECK_STR_EQ(cap, "captured reason");

	FILE *f = fopen(path, "r");
	char a[512] = "", b[512] = "", c[512] = "";
	REQUIRE(f != NULL);
	CHECK(fgets(a, sizeof(a), f) != NULL);
	CHECK(fgets(b, sizeof(b), f) != NULL);
	CHECK(fgets(c, sizeof(c), f) == NULL);
	fclose(f);
	unlink(path);
	CHECK_CONTAINS(a, ":main:"); /* [instance:thread:file:line] */
	CHECK_CONTAINS(a, "test_api.c:");
	CHECK_CONTAINS(a, "] first 1\n");
	CHECK(strstr(a, "INFO") == NULL);
	CHECK_CONTAINS(b, ":WARN] second\n"); /* Firecracker's [instance:thread:LEVEL] */
	log_set_format(true, false);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
