package fhirpeer.hapi;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.orm.jpa.HibernateJpaAutoConfiguration;
import org.springframework.boot.autoconfigure.thymeleaf.ThymeleafAutoConfiguration;

/**
 * Entry point of the fhirpeer test FHIR server: HAPI FHIR JPA (R4) on embedded H2.
 *
 * <p>Settings come from system properties (or the matching environment variables, Spring's relaxed binding):
 * {@code server.port}, {@code fhirpeer.data-dir}, {@code fhirpeer.db} (file|mem), {@code fhirpeer.validation}, ...
 * See README.md beside pom.xml.
 */
@SpringBootApplication(
		exclude = {
			// the entity manager factory is built by FhirServerConfig (HAPI's persistence unit)
			HibernateJpaAutoConfiguration.class,
			// thymeleaf is on the class path only for HAPI's narratives, which are off
			ThymeleafAutoConfiguration.class
		},
		excludeName = {
			"org.springframework.boot.autoconfigure.quartz.QuartzAutoConfiguration",
			"org.springframework.boot.autoconfigure.flyway.FlywayAutoConfiguration",
			"org.springframework.boot.autoconfigure.data.jpa.JpaRepositoriesAutoConfiguration",
			"org.springframework.boot.autoconfigure.websocket.servlet.WebSocketServletAutoConfiguration",
			// the Elasticsearch client is on the class path only through Hibernate Search, which is off
			"org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchRestClientAutoConfiguration",
			"org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchClientAutoConfiguration"
		})
public class HapiServerApplication {

	public static void main(String[] args) {
		SpringApplication app = new SpringApplication(HapiServerApplication.class);
		app.setDefaultProperties(defaultProperties());
		app.run(args);
	}

	/** The JDBC URL follows fhirpeer.data-dir and fhirpeer.db unless spring.datasource.url is given. */
	static Map<String, Object> defaultProperties() {
		Map<String, Object> props = new HashMap<>();
		String dataDir = setting("fhirpeer.data-dir", "FHIRPEER_DATA_DIR", "target/data");
		String db = setting("fhirpeer.db", "FHIRPEER_DB", "file");
		String url;
		if ("mem".equalsIgnoreCase(db)) {
			url = "jdbc:h2:mem:fhirpeer;DB_CLOSE_DELAY=-1;TRACE_LEVEL_FILE=0";
		} else {
			Path base = Path.of(dataDir).toAbsolutePath().normalize().resolve("h2").resolve("hapi");
			// no .trace.db file: HAPI's Hibernate set-up logs a harmless DDL error into it at every start
			url = "jdbc:h2:file:" + base + ";TRACE_LEVEL_FILE=0";
		}
		props.put("spring.datasource.url", url);
		return props;
	}

	static String setting(String property, String envVar, String fallback) {
		String value = System.getProperty(property);
		if (value == null || value.isBlank()) {
			value = System.getenv(envVar);
		}
		return (value == null || value.isBlank()) ? fallback : value;
	}
}
